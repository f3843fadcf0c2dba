//! Squared-error loss of a regression head (shaders/mse.wgsl): per-row losses and the in-place backward.

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/mse.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("mse.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MseParams {
    rows: u32,
    scored: u32,
    scale: f32,
}

// reads values, targets; writes losses
const FORWARD: Kernel = Kernel::new::<MseParams>(SHADER, "mse_forward", &[U, R, R, W]);

// reads targets; writes values
const BACKWARD: Kernel = Kernel::new::<MseParams>(SHADER, "mse_backward", &[U, R, W]);

/// `losses[i] = (values[i] - targets[i])^2` for the first `scored` rows, 0 after.
pub fn forward(rec: &mut Recorder, values: &Tensor, targets: &Tensor, losses: &Tensor, scored: usize) {
    let rows = values.len();
    assert_eq!(targets.len(), rows, "mse: targets shape");
    assert_eq!(losses.len(), rows, "mse: losses shape");
    rec.dispatch(
        &FORWARD,
        &MseParams {
            rows: rows as u32,
            scored: scored as u32,
            scale: 0.0,
        },
        &[&values.buf, &targets.buf, &losses.buf],
        grid_1d(rows),
    );
}

/// In place: values become 2 (values - targets) * scale on the first `scored` rows, 0 after. For the mean
/// loss over the scored rows, scale = 1 / scored.
pub fn backward(rec: &mut Recorder, values_to_grad: &Tensor, targets: &Tensor, scored: usize, scale: f32) {
    let rows = values_to_grad.len();
    assert_eq!(targets.len(), rows, "mse backward: targets shape");
    rec.dispatch(
        &BACKWARD,
        &MseParams {
            rows: rows as u32,
            scored: scored as u32,
            scale,
        },
        &[&targets.buf, &values_to_grad.buf],
        grid_1d(rows),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD];
