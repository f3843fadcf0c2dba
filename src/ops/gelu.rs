//! GELU (shaders/gelu.wgsl). The model applies it in the matmul epilogue; this standalone op serves tests
//! and the backward pass.

use super::{grid_1d, Act};
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/gelu.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("gelu.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GeluParams {
    n: u32,
    act: u32,
}

const FORWARD: Kernel = Kernel::new::<GeluParams>(SHADER, "gelu_forward", &[U, R, W]);

/// out = gelu(inp), elementwise; `act` is `Act::Gelu` (erf) or `Act::GeluTanh`.
pub fn forward(rec: &mut Recorder, inp: &Tensor, out: &Tensor, act: Act) {
    assert_eq!(inp.len(), out.len(), "gelu: inp and out sizes");
    let n = inp.len();
    rec.dispatch(
        &FORWARD,
        &GeluParams {
            n: n as u32,
            act: act as u32,
        },
        &[&inp.buf, &out.buf],
        grid_1d(n),
    );
}

// reads inp, dout; writes dinp
const BACKWARD: Kernel = Kernel::new::<GeluParams>(SHADER, "gelu_backward", &[U, R, R, W]);

/// dinp = dout * act'(inp), elementwise, from the saved pre-activation `inp`: the exact erf derivative
/// Phi(x) + x phi(x) for `Act::Gelu`, the tanh form's derivative for `Act::GeluTanh` (also `Act::Tanh`,
/// `Act::Relu`, `Act::None`). dinp is written, not accumulated.
pub fn backward(rec: &mut Recorder, inp: &Tensor, dout: &Tensor, dinp: &Tensor, act: Act) {
    assert_eq!(inp.len(), dout.len(), "gelu backward: inp and dout sizes");
    assert_eq!(inp.len(), dinp.len(), "gelu backward: inp and dinp sizes");
    let n = inp.len();
    rec.dispatch(
        &BACKWARD,
        &GeluParams {
            n: n as u32,
            act: act as u32,
        },
        &[&inp.buf, &dout.buf, &dinp.buf],
        grid_1d(n),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD];
