//! The recorder of one submit: dispatches into one compute pass, their uniforms into one buffer, and the
//! readbacks after the pass.

use std::rc::Rc;

use wgpu::util::DeviceExt;

use super::{Gpu, Kernel, Pipeline, Shader};
use crate::error::{Error, ErrorKind, Result};

struct Dispatch {
    kernel: Kernel,
    uniform: Vec<u8>,
    buffers: Vec<wgpu::Buffer>,
    workgroups: [u32; 3],
}

/// Records dispatches for one submit: all kernels of a forward go into one compute pass, their uniforms
/// into one buffer, and the readbacks after the pass.
pub struct Recorder<'g> {
    gpu: &'g Gpu,
    dispatches: Vec<Dispatch>,
    /// Drop every dispatch that is not a matmul: the benchmark times the matmul share of a forward this way.
    matmuls_only: bool,
}

/// Offsets of uniforms inside the shared uniform buffer are aligned to this.
const UNIFORM_ALIGN: usize = 256;

impl<'g> Recorder<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        Recorder {
            gpu,
            dispatches: Vec::new(),
            matmuls_only: false,
        }
    }

    /// A recorder that keeps only matmul dispatches (for timing the matmul share of a workload).
    pub fn matmuls_only(gpu: &'g Gpu) -> Self {
        Recorder {
            gpu,
            dispatches: Vec::new(),
            matmuls_only: true,
        }
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Queues one kernel launch. `params` is the kernel's uniform (binding 0), the op's `#[repr(C)]` Pod
    /// struct that mirrors the WGSL struct; `buffers` follow the kernel's bindings after it, in order.
    pub fn dispatch<P: bytemuck::Pod>(
        &mut self,
        kernel: &Kernel,
        params: &P,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) {
        debug_assert_eq!(
            std::mem::size_of::<P>(),
            kernel.params,
            "{}: parameter struct",
            kernel.entry
        );
        debug_assert_eq!(
            kernel.bindings.len(),
            buffers.len() + 1,
            "{}: binding count",
            kernel.entry
        );
        let max = self.gpu.limits.max_compute_workgroups_per_dimension;
        debug_assert!(
            workgroups.iter().all(|&w| w <= max),
            "{}: {workgroups:?} workgroups",
            kernel.entry
        );
        let is_matmul = matches!(kernel.shader, Shader::Matmul(_));
        if workgroups.contains(&0) || (self.matmuls_only && !is_matmul) {
            return;
        }
        self.dispatches.push(Dispatch {
            kernel: *kernel,
            uniform: bytemuck::bytes_of(params).to_vec(),
            buffers: buffers.iter().map(|b| (*b).clone()).collect(),
            workgroups,
        });
    }

    /// Records everything into one encoder with one compute pass, copies the requested ranges
    /// `(buffer, first f32, f32 count)` into staging buffers, submits once and waits for the results.
    /// GPU validation and out-of-memory errors come back as `Err`.
    pub async fn submit_and_read(self, ranges: &[(&wgpu::Buffer, u64, usize)]) -> Result<Vec<Vec<f32>>> {
        let device = &self.gpu.device;
        let oom_scope = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation_scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipelines: Vec<Rc<Pipeline>> = self.dispatches.iter().map(|d| self.gpu.pipeline(&d.kernel)).collect();

        let mut uniform_bytes = Vec::new();
        let mut offsets = Vec::with_capacity(self.dispatches.len());
        for d in &self.dispatches {
            offsets.push(uniform_bytes.len() as u64);
            uniform_bytes.extend_from_slice(&d.uniform);
            uniform_bytes.resize(uniform_bytes.len().next_multiple_of(UNIFORM_ALIGN), 0);
        }
        let uniforms = (!uniform_bytes.is_empty()).then(|| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("uniforms"),
                contents: &uniform_bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            })
        });
        let bind_groups: Vec<wgpu::BindGroup> = self
            .dispatches
            .iter()
            .zip(&offsets)
            .zip(&pipelines)
            .map(|((d, &offset), pipeline)| {
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: uniforms.as_ref().unwrap(),
                        offset,
                        size: wgpu::BufferSize::new(d.uniform.len().max(16) as u64),
                    }),
                }];
                entries.extend(d.buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: b.as_entire_binding(),
                }));
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipeline.layout,
                    entries: &entries,
                })
            })
            .collect();

        #[cfg(not(target_arch = "wasm32"))]
        if self.gpu.profile.borrow().is_some() {
            for ((d, bg), pipeline) in self.dispatches.iter().zip(&bind_groups).zip(&pipelines) {
                let t = std::time::Instant::now();
                let mut encoder = device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&pipeline.pipeline);
                    pass.set_bind_group(0, bg, &[]);
                    pass.dispatch_workgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
                }
                self.gpu.queue.submit([encoder.finish()]);
                let _ = device.poll(wgpu::PollType::wait_indefinitely());
                let u: &[u32] = bytemuck::cast_slice(&d.uniform);
                let label = if let Shader::Matmul(k) = d.kernel.shader {
                    format!(
                        "{} {}x{}x{} z{} ({})",
                        d.kernel.entry, u[0], u[1], u[2], d.workgroups[2], k.name
                    )
                } else {
                    d.kernel.entry.to_string()
                };
                if let Some(p) = self.gpu.profile.borrow_mut().as_mut() {
                    p.push((label, t.elapsed().as_secs_f64()));
                }
            }
        }
        let profiling = cfg!(not(target_arch = "wasm32")) && self.gpu.profile.borrow().is_some();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") });
        if !self.dispatches.is_empty() && !profiling {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: None,
            });
            for ((d, bg), pipeline) in self.dispatches.iter().zip(&bind_groups).zip(&pipelines) {
                pass.set_pipeline(&pipeline.pipeline);
                pass.set_bind_group(0, bg, &[]);
                pass.dispatch_workgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
            }
        }
        let staging: Vec<wgpu::Buffer> = ranges
            .iter()
            .map(|&(buf, first, count)| {
                let size = (count.max(1) * 4) as u64;
                let s = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size: size.next_multiple_of(4),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                if count > 0 {
                    encoder.copy_buffer_to_buffer(buf, first * 4, &s, 0, size);
                }
                s
            })
            .collect();
        self.gpu.queue.submit([encoder.finish()]);
        #[cfg(not(target_arch = "wasm32"))]
        let waiting = std::time::Instant::now();

        let validation = validation_scope.pop().await;
        let oom = oom_scope.pop().await;
        if let Some(e) = self.gpu.take_uncaptured() {
            return Err(e);
        }
        if let Some(e) = oom {
            return Err(Error::of(
                ErrorKind::Limits,
                format!("out of GPU memory: {e}{}", self.gpu.hint()),
            ));
        }
        if let Some(e) = validation {
            return Err(Error::of(ErrorKind::Gpu, format!("GPU error: {e}")));
        }
        let mut out = Vec::with_capacity(staging.len());
        for (s, &(_, _, count)) in staging.iter().zip(ranges) {
            out.push(read_mapped(&self.gpu.device, s, count).await?);
        }
        let mut stats = self.gpu.submit_stats.get();
        stats.dispatches += self.dispatches.len() as u64;
        stats.submits += 1;
        #[cfg(not(target_arch = "wasm32"))]
        {
            stats.waiting_s += waiting.elapsed().as_secs_f64();
        }
        self.gpu.submit_stats.set(stats);
        Ok(out)
    }

    /// Submits without reading anything back.
    pub async fn submit(self) -> Result<()> {
        self.submit_and_read(&[]).await.map(|_| ())
    }
}

/// Maps a staging buffer and copies `count` f32 out of it.
async fn read_mapped(device: &wgpu::Device, staging: &wgpu::Buffer, count: usize) -> Result<Vec<f32>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let (tx, rx) = futures_channel::oneshot::channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    #[cfg(not(target_arch = "wasm32"))]
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| {
        Error::of(
            ErrorKind::Gpu,
            format!("GPU device lost while waiting for results: {e}"),
        )
    })?;
    #[cfg(target_arch = "wasm32")]
    let _ = device;
    rx.await
        .map_err(|_| Error::of(ErrorKind::Gpu, "GPU readback was cancelled"))?
        .map_err(|e| Error::of(ErrorKind::Gpu, format!("GPU readback failed: {e}")))?;
    let data = {
        let view = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| Error::of(ErrorKind::Gpu, format!("GPU readback failed: {e}")))?;
        bytemuck::cast_slice::<u8, f32>(&view[..count * 4]).to_vec()
    };
    staging.unmap();
    Ok(data)
}
