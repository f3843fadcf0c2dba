//! Memory: what the runtime has allocated (and its peak), the adapter's limits and the memory budget checked
//! before a run starts, and the allocations themselves (zeros, uploads, readback of tensors).

use wgpu::util::DeviceExt;

use super::{Gpu, Recorder, SubmitStats, Tensor};
use crate::error::{Error, ErrorKind, Result};

impl Gpu {
    pub(super) fn count_allocation(&self, bytes: u64) {
        self.allocated.set(self.allocated.get() + bytes);
        self.peak_allocated
            .set(self.peak_allocated.get().max(self.allocated.get()));
    }

    /// The submit counters since the last call, then zeroed.
    pub fn take_submit_stats(&self) -> SubmitStats {
        self.submit_stats.take()
    }

    /// Starts a new peak: from now on the peak counts from what is held now.
    pub fn reset_peak(&self) {
        self.peak_allocated.set(self.allocated.get());
    }

    /// Bytes currently held in buffers created through this runtime, and the peak so far.
    pub fn allocated_bytes(&self) -> (u64, u64) {
        (self.allocated.get(), self.peak_allocated.get())
    }

    pub(super) fn check_size(&self, bytes: u64, label: &str) -> Result<()> {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > max {
            return Err(Error::of(
                ErrorKind::Limits,
                format!(
                    "tensor {label}: {bytes} bytes exceeds this adapter's storage binding limit of {max} bytes{}",
                    self.hint()
                ),
            ));
        }
        Ok(())
    }

    /// Names what the user can lower when a tensor does not fit or memory runs out, in the front door's
    /// words (`--batch-size or --seq-len`; `batchSize or seqLen`).
    pub fn set_limit_hint(&self, what: &str) {
        *self.limit_hint.borrow_mut() = what.to_string();
    }

    /// `; lower <what>` when the front door named what to lower, else empty.
    pub fn hint(&self) -> String {
        let what = self.limit_hint.borrow();
        if what.is_empty() {
            String::new()
        } else {
            format!("; lower {what}")
        }
    }

    /// The bytes this runtime may hold on the device, where it can be known: `BERT_WGPU_MAX_MEMORY` (natively;
    /// bytes, or with a KiB/MiB/GiB suffix) caps it; an adapter that is the CPU (lavapipe, SwiftShader) has
    /// the host's available memory. `None` elsewhere: a GPU driver that reports a budget refuses buffers
    /// beyond it at creation (see `Gpu::new`), and a browser reports none.
    /// Returns the bytes and whether they are the `BERT_WGPU_MAX_MEMORY` cap.
    pub fn memory_budget(&self) -> Result<Option<(u64, bool)>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            if let Ok(text) = std::env::var("BERT_WGPU_MAX_MEMORY") {
                return parse_bytes(&text).map(|b| Some((b, true))).ok_or_else(|| {
                    Error::new(format!(
                        "BERT_WGPU_MAX_MEMORY {text:?}: expected bytes, e.g. 512MiB or 8GiB"
                    ))
                });
            }
            if self.info.device_type == wgpu::DeviceType::Cpu {
                return Ok(host_memory_available().map(|b| (b, false)));
            }
        }
        Ok(None)
    }

    /// Checks the buffers created so far against [`Self::memory_budget`], once a run has created its model
    /// and workspace and before it uses them: buffers take memory when first used, so a run that cannot
    /// fit is refused here, with what to lower, instead of failing halfway or exhausting the host.
    pub fn check_memory(&self, what: &str) -> Result<()> {
        let Some((budget, capped)) = self.memory_budget()? else {
            return Ok(());
        };
        let held = self.allocated.get();
        if held > budget {
            let size = |b: u64| match b {
                b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
                b => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
            };
            let available = match capped {
                true => format!("the BERT_WGPU_MAX_MEMORY cap of {}", size(budget)),
                false => format!("the {} available to {}", size(budget), self.info.name),
            };
            return Err(Error::of(
                ErrorKind::Limits,
                format!(
                    "out of memory: {what} need {}, more than {available}{}",
                    size(held),
                    self.hint()
                ),
            ));
        }
        Ok(())
    }

    /// The first GPU error raised outside an error scope since the device was opened, once: a failed
    /// allocation is reported as the cause, not the errors of every dispatch that used the buffer.
    pub(super) fn take_uncaptured(&self) -> Option<Error> {
        let mut held = self.uncaptured.lock().ok()?;
        let first = held.0.take()?;
        let more = std::mem::take(&mut held.1);
        let more = if more > 0 {
            format!(" (and {more} more GPU errors)")
        } else {
            String::new()
        };
        let out_of_memory = first.to_lowercase().contains("out of memory");
        Some(if out_of_memory {
            Error::of(
                ErrorKind::Limits,
                format!("out of GPU memory: {first}{more}{}", self.hint()),
            )
        } else {
            Error::of(ErrorKind::Gpu, format!("GPU error: {first}{more}"))
        })
    }

    /// A zero-filled f32 tensor.
    pub fn zeros(&self, shape: &[usize], label: &str) -> Result<Tensor> {
        let bytes = (shape.iter().product::<usize>().max(1) * 4) as u64;
        self.check_size(bytes, label)?;
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.count_allocation(buf.size());
        Ok(Tensor {
            buf,
            shape: shape.to_vec(),
        })
    }

    /// An f32 tensor holding `data` (row-major, `shape.product()` values).
    pub fn upload(&self, data: &[f32], shape: &[usize], label: &str) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if data.len() != n {
            return Err(Error::new(format!(
                "tensor {label}: {} values for shape {shape:?}",
                data.len()
            )));
        }
        let t = self.zeros(shape, label)?;
        if !data.is_empty() {
            self.queue.write_buffer(&t.buf, 0, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// A u32 storage buffer (token ids, positions, indices).
    pub fn upload_u32(&self, data: &[u32], label: &str) -> Result<wgpu::Buffer> {
        let mut padded = data.to_vec();
        padded.resize(data.len().max(1).next_multiple_of(4), 0);
        self.check_size(padded.len() as u64 * 4, label)?;
        let buf = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(&padded),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        });
        self.count_allocation(buf.size());
        Ok(buf)
    }

    /// Reads whole tensors back (one submit, then one wait).
    pub async fn read(&self, tensors: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        let rec = Recorder::new(self);
        let ranges: Vec<(&wgpu::Buffer, u64, usize)> = tensors.iter().map(|t| (&t.buf, 0, t.len())).collect();
        rec.submit_and_read(&ranges).await
    }
}

/// `123`, `512MiB`, `8GiB`, `64KiB` (binary units; `K`, `M`, `G`, `KB`, `MB`, `GB` read the same) as bytes.
#[cfg(not(target_arch = "wasm32"))]
fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value > 0.0).then_some((value * scale as f64) as u64)
}

/// The host's available memory (`MemAvailable` of /proc/meminfo), where the system says.
#[cfg(not(target_arch = "wasm32"))]
fn host_memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
