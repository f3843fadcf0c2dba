//! The wgpu runtime: device + queue, pipeline cache, f32 tensors, one recorder per submit, async readback.
//!
//! Nothing here blocks, spawns threads or touches the file system, so the same code runs natively and in a
//! browser worker. Native callers drive the futures with `pollster` at the edge.

pub mod matmul_gen;
mod memory;
mod recorder;
pub mod shaders;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, ErrorKind, Result};
use matmul_gen::{MatmulKernel, MatmulPlan, CANDIDATES, PORTABLE};
pub use recorder::Recorder;
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
    /// Bytes of the uniform parameters (binding 0): the size of the op's `#[repr(C)]` Pod struct that
    /// mirrors the WGSL struct field by field (tests/shaders.rs checks the sizes agree).
    pub params: usize,
}

impl Kernel {
    /// Entry point `entry` of `shader` with its group-0 bindings in order (`U`niform, `R`ead, read-`W`rite, as
    /// the ops import `Access`'s variants; each binding's shape is commented in the WGSL); its uniform is `P`.
    pub const fn new<P>(shader: Shader, entry: &'static str, bindings: &'static [Access]) -> Kernel {
        Kernel {
            shader,
            entry,
            bindings,
            params: size_of::<P>(),
        }
    }
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
}
