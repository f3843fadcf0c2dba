//! AdamW with global gradient-norm clipping (shaders/adamw.wgsl), all on the GPU in the step's submit:
//! `sumsq` for every gradient tensor (one slot each), one `clip_scale`, then `update` for every tensor.
//! Every sum has a fixed order, so a step is deterministic.

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/adamw.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("adamw.wgsl", crate::gpu::shaders::REDUCE);

/// Partial sums per gradient tensor (workgroups of `adamw_sumsq`); `partials` holds slots * PARTS.
pub const PARTS: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SumsqParams {
    n: u32,
    offset: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ClipParams {
    count: u32,
    max_norm: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct UpdateParams {
    n: u32,
    variant: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay: f32,
    step_size: f32,
    bc2_sqrt: f32,
}

// reads grad; writes partials
const SUMSQ: Kernel = Kernel::new::<SumsqParams>(SHADER, "adamw_sumsq", &[U, R, W]);

// reads partials; writes out
const CLIP_SCALE: Kernel = Kernel::new::<ClipParams>(SHADER, "adamw_clip_scale", &[U, R, W]);

// reads clip; writes param, grad, m, v
const UPDATE: Kernel = Kernel::new::<UpdateParams>(SHADER, "adamw_update", &[U, R, W, W, W, W]);

/// Which AdamW (also `OptimizerConfig::variant`, saved in checkpoints as "Torch" or "Google"; the browser's
/// options spell them "torch" and "google").
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdamVariant {
    /// torch.optim.AdamW (Hugging Face's Trainer): p *= 1 - lr * wd; m, v updated;
    /// p -= lr * mhat / (sqrt(vhat) + eps) with bias-corrected mhat, vhat. Usually eps = 1e-8.
    #[serde(alias = "torch")]
    Torch,
    /// The original BERT's AdamWeightDecay: no bias correction; p -= lr * (m / (sqrt(v) + eps) + wd * p).
    /// Usually eps = 1e-6.
    #[serde(alias = "google")]
    Google,
}

/// The hyperparameters of one update (the learning rate of this step's schedule).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// 0 for biases and LayerNorm parameters (the caller's choice).
    pub weight_decay: f32,
    /// 1-based step, for the bias correction of `AdamVariant::Torch`.
    pub step: u32,
    pub variant: AdamVariant,
}

/// Writes PARTS partial sums of squares of `grad` into partials[slot * PARTS .. (slot + 1) * PARTS]
/// (PARTS workgroups grid-striding over the tensor; deterministic).
pub fn sumsq(rec: &mut Recorder, grad: &Tensor, partials: &Tensor, slot: usize) {
    assert!(
        partials.len() >= (slot + 1) * PARTS,
        "adamw sumsq: partials hold {} values, slot {slot} needs {}",
        partials.len(),
        (slot + 1) * PARTS
    );
    rec.dispatch(
        &SUMSQ,
        &SumsqParams {
            n: grad.len() as u32,
            offset: (slot * PARTS) as u32,
        },
        &[&grad.buf, &partials.buf],
        [PARTS as u32, 1, 1],
    );
}

/// out (2) = [global norm, scale = min(1, max_norm / (norm + 1e-6))] from the first `slots` slots of
/// partials (one workgroup, fixed order). max_norm = f32::INFINITY never clips.
pub fn clip_scale(rec: &mut Recorder, partials: &Tensor, slots: usize, max_norm: f32, out: &Tensor) {
    assert!(partials.len() >= slots * PARTS, "adamw clip_scale: partials shape");
    assert!(out.len() >= 2, "adamw clip_scale: out holds [norm, scale]");
    rec.dispatch(
        &CLIP_SCALE,
        &ClipParams {
            count: (slots * PARTS) as u32,
            max_norm,
        },
        &[&partials.buf, &out.buf],
        [1, 1, 1],
    );
}

/// One AdamW update of `param` from `grad` times `clip[1]` (the scale from `clip_scale`), with moments m and
/// v (all of param's size); then grad = 0, ready for the next accumulation.
pub fn update(rec: &mut Recorder, param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, clip: &Tensor, h: AdamHyper) {
    let n = param.len();
    for (t, name) in [(grad, "grad"), (m, "m"), (v, "v")] {
        assert_eq!(t.len(), n, "adamw update: {name} has {} values, param {n}", t.len());
    }
    assert!(h.step >= 1, "adamw update: step is 1-based");
    let (lr, wd) = (h.lr as f64, h.weight_decay as f64);
    let bc1 = 1.0 - (h.beta1 as f64).powi(h.step as i32);
    let bc2 = 1.0 - (h.beta2 as f64).powi(h.step as i32);
    let variant = match h.variant {
        AdamVariant::Torch => 0,
        AdamVariant::Google => 1,
    };
    rec.dispatch(
        &UPDATE,
        &UpdateParams {
            n: n as u32,
            variant,
            lr: h.lr,
            beta1: h.beta1,
            beta2: h.beta2,
            eps: h.eps,
            weight_decay: h.weight_decay,
            decay: (1.0 - lr * wd) as f32,
            step_size: (lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
        },
        &[&clip.buf, &param.buf, &grad.buf, &m.buf, &v.buf],
        grid_1d(n),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[SUMSQ, CLIP_SCALE, UPDATE];
