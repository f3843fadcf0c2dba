//! The wgpu runtime: device + queue, pipeline cache, f32 tensors, one recorder per submit, async readback.
//!
//! Nothing here blocks, spawns threads or touches the file system, so the same code runs natively and in a
//! browser worker. Native callers drive the futures with `pollster` at the edge.

pub mod matmul_gen;
pub mod shaders;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wgpu::util::DeviceExt;

use crate::error::{Error, ErrorKind, Result};
use matmul_gen::{MatmulKernel, MatmulPlan, CANDIDATES, PORTABLE};
pub use shaders::Shader;

/// How a kernel binds one buffer. Group 0 always starts with a uniform of sizes, then inputs, then outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Uniform,
    Read,
    ReadWrite,
}

/// One entry point of one shader file, with its explicit bind group layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub bindings: &'static [Access],
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// An f32 tensor on the GPU: a storage buffer and its row-major shape.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub buf: wgpu::Buffer,
    pub shape: Vec<usize>,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the submits since the last [`Gpu::take_submit_stats`] did: the host time of a step is its wall time
/// minus `waiting_s` (natively; 0 in a browser).
#[derive(Clone, Copy, Debug, Default)]
pub struct SubmitStats {
    pub dispatches: u64,
    pub submits: u64,
    pub waiting_s: f64,
}

/// The device, its queue, what the adapter is, and the caches built on them.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// The subgroup matmul can run: `Features::SUBGROUP` and subgroups of at least 8 lanes.
    pub subgroups: bool,
    /// Which matmul kernel runs for each shape (`ops::tune` fills it by measurement).
    pub matmul: RefCell<MatmulPlan>,
    pipelines: RefCell<HashMap<Kernel, Rc<Pipeline>>>,
    /// Bytes held in buffers created through this runtime (the runtime's own accounting).
    allocated: Cell<u64>,
    peak_allocated: Cell<u64>,
    /// Dispatches, submits and seconds spent waiting for the GPU since the last `take_submit_stats`.
    submit_stats: Cell<SubmitStats>,
    /// The partial products of a matmul split along k (`ops::matmul`), grown on demand and shared by every
    /// such product (dispatches run in order).
    split_partials: RefCell<Option<wgpu::Buffer>>,
    /// The first GPU error raised outside an error scope (a buffer whose allocation failed) and how many
    /// followed it; the next submit reports it once, as the cause of whatever fails after it.
    uncaptured: std::sync::Arc<std::sync::Mutex<(Option<String>, u64)>>,
    /// What the user can lower when a tensor does not fit (`--batch-size or --seq-len`), set by the front
    /// door; empty for none.
    limit_hint: RefCell<String>,
    /// When set, every submit runs its dispatches one at a time and adds each one's wall time here,
    /// keyed by entry point and sizes (`bench --profile`; native only).
    profile: RefCell<Option<Vec<(String, f64)>>>,
}

const FOR_BROWSER: bool = cfg!(target_arch = "wasm32");

impl Gpu {
    /// Finds an adapter (high performance first) and opens a device with the adapter's storage limits.
    pub async fn new() -> Result<Gpu> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        // Where the driver reports a memory budget (Vulkan, DX12), creating a buffer beyond 95% of it is an
        // out-of-memory error instead of a device that swaps or is lost.
        descriptor.memory_budget_thresholds.for_resource_creation = Some(95);
        let instance = wgpu::Instance::new(descriptor);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::of(
                    ErrorKind::NoAdapter,
                    format!(
                        "no usable GPU adapter: {e} (natively install a Vulkan, Metal or DX12 driver, e.g. \
                     `apt-get install mesa-vulkan-drivers libvulkan1`; in a browser enable WebGPU)"
                    ),
                )
            })?;
        let info = adapter.get_info();
        let offered = adapter.limits();
        // Ask for what the adapter offers on the limits that bound model size; defaults elsewhere.
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: offered.max_storage_buffer_binding_size,
            max_buffer_size: offered.max_buffer_size,
            max_storage_buffers_per_shader_stage: offered.max_storage_buffers_per_shader_stage.min(10),
            max_compute_workgroups_per_dimension: offered.max_compute_workgroups_per_dimension,
            ..wgpu::Limits::downlevel_defaults()
        };
        // The kernels use 256 invocations and 16 KiB of workgroup memory at most (the tiled matmuls).
        let limits = wgpu::Limits {
            max_compute_workgroup_storage_size: 16384.min(offered.max_compute_workgroup_storage_size),
            max_compute_invocations_per_workgroup: 256.min(offered.max_compute_invocations_per_workgroup),
            max_compute_workgroup_size_x: 256.min(offered.max_compute_workgroup_size_x),
            max_compute_workgroup_size_y: 256.min(offered.max_compute_workgroup_size_y),
            max_compute_workgroup_size_z: 64.min(offered.max_compute_workgroup_size_z),
            ..limits
        };
        let subgroups = adapter.features().contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size >= 8;
        let features = if subgroups {
            wgpu::Features::SUBGROUP
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("bert-wgpu"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::of(
                    ErrorKind::NoAdapter,
                    format!("could not open the GPU device on {}: {e}", info.name),
                )
            })?;
        // Errors outside an error scope are kept (the first, and a count), not turned into an abort; the next
        // submit reports them.
        let uncaptured = std::sync::Arc::new(std::sync::Mutex::new((None, 0)));
        let record = uncaptured.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e| {
            if let Ok(mut held) = record.lock() {
                match &held.0 {
                    None => held.0 = Some(e.to_string()),
                    Some(_) => held.1 += 1,
                }
            }
        }));
        let default = match MatmulKernel::by_name("subgroup") {
            Some(k) if subgroups => k,
            _ => PORTABLE,
        };
        #[allow(unused_mut)] // forced kernels come from the environment natively only
        let mut gpu = Gpu {
            device,
            queue,
            info,
            limits,
            features,
            subgroups,
            matmul: RefCell::new(MatmulPlan {
                forced: None,
                chosen: Default::default(),
                default,
            }),
            pipelines: RefCell::new(HashMap::new()),
            allocated: Cell::new(0),
            peak_allocated: Cell::new(0),
            submit_stats: Cell::new(SubmitStats::default()),
            split_partials: RefCell::new(None),
            uncaptured,
            limit_hint: RefCell::new(String::new()),
            profile: RefCell::new(None),
        };
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(name) = std::env::var("BERT_WGPU_KERNELS") {
            gpu.force_kernels(&name)?;
        }
        Ok(gpu)
    }

    /// A buffer of at least `len` f32 for the partial products of a split matmul; None when it cannot be
    /// allocated (the caller then does not split).
    pub fn split_partials(&self, len: usize) -> Option<wgpu::Buffer> {
        let mut held = self.split_partials.borrow_mut();
        if held.as_ref().is_none_or(|b| b.size() < (len * 4) as u64) {
            *held = self.zeros(&[len], "matmul split-k partials").ok().map(|t| t.buf);
        }
        held.clone()
    }

    /// Whether a matmul candidate can run here: subgroups for the subgroup kernel, the workgroup size
    /// and memory of a tiled one within the device's limits.
    pub fn can_run(&self, k: &MatmulKernel) -> bool {
        let l = &self.limits;
        (!k.uses_subgroups() || self.subgroups)
            && k.threads() <= l.max_compute_invocations_per_workgroup
            && k.threads() <= l.max_compute_workgroup_size_x
            && k.workgroup_bytes() <= l.max_compute_workgroup_storage_size
    }

    /// The matmul candidates that can run on this adapter, the portable one first.
    pub fn candidates(&self) -> Vec<MatmulKernel> {
        CANDIDATES.iter().copied().filter(|k| self.can_run(k)).collect()
    }

    /// `auto` (tuned per shape class, else the default) or one candidate's name for every matmul.
    pub fn force_kernels(&mut self, name: &str) -> Result<()> {
        let forced = match name {
            "auto" => None,
            _ => {
                let k = MatmulKernel::by_name(name).ok_or_else(|| {
                    let names: Vec<&str> = CANDIDATES.iter().map(|k| k.name).collect();
                    Error::new(format!(
                        "unknown kernels `{name}`: use auto or one of {}",
                        names.join(", ")
                    ))
                })?;
                if !self.can_run(&k) {
                    return Err(Error::new(format!(
                        "the {name} matmul cannot run on {} (it needs {})",
                        self.info.name,
                        if k.uses_subgroups() {
                            "subgroups of at least 8 lanes".to_string()
                        } else {
                            format!(
                                "{} invocations and {} bytes of workgroup memory",
                                k.threads(),
                                k.workgroup_bytes()
                            )
                        }
                    )));
                }
                Some(k)
            }
        };
        self.matmul.get_mut().forced = forced;
        Ok(())
    }

    /// The pipeline for a kernel, built once and cached.
    fn pipeline(&self, kernel: &Kernel) -> Rc<Pipeline> {
        if let Some(p) = self.pipelines.borrow().get(kernel) {
            return p.clone();
        }
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.shader.file_name()),
            source: wgpu::ShaderSource::Wgsl(kernel.shader.module_source(FOR_BROWSER).into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .bindings
            .iter()
            .enumerate()
            .map(|(i, access)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match access {
                    Access::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Access::Read | Access::ReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: *access == Access::Read,
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let layout = self.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(kernel.entry),
            entries: &entries,
        });
        let pipeline_layout = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(kernel.entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let p = Rc::new(Pipeline { pipeline, layout });
        self.pipelines.borrow_mut().insert(*kernel, p.clone());
        p
    }

    /// Starts timing every dispatch on its own (slow: one submit and wait per dispatch).
    pub fn start_profile(&self) {
        *self.profile.borrow_mut() = Some(Vec::new());
    }

    /// Stops profiling and returns `(dispatch label, seconds)` in dispatch order.
    pub fn take_profile(&self) -> Vec<(String, f64)> {
        self.profile.borrow_mut().take().unwrap_or_default()
    }

    fn count_allocation(&self, bytes: u64) {
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

    fn check_size(&self, bytes: u64, label: &str) -> Result<()> {
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
    fn take_uncaptured(&self) -> Option<Error> {
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

    /// Queues one kernel launch. `uniform` is the kernel's sizes struct (bytes of u32/f32 fields);
    /// `buffers` follow the kernel's bindings after the uniform, in order.
    pub fn dispatch(&mut self, kernel: &Kernel, uniform: &[u32], buffers: &[&wgpu::Buffer], workgroups: [u32; 3]) {
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
            uniform: bytemuck::cast_slice(uniform).to_vec(),
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
    (value.is_finite() && value > 0.0).then(|| (value * scale as f64) as u64)
}

/// The host's available memory (`MemAvailable` of /proc/meminfo), where the system says.
#[cfg(not(target_arch = "wasm32"))]
fn host_memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
