//! GELU (shaders/gelu.wgsl). The model applies it in the matmul epilogue; this standalone op serves tests
//! and the backward pass.

use super::{grid_1d, Act};
use crate::gpu::{Access, Kernel, Recorder, Shader, Tensor};

const FORWARD: Kernel = Kernel {
    shader: Shader::Gelu,
    entry: "gelu_forward",
    bindings: &[Access::Uniform, Access::Read, Access::ReadWrite],
};

/// out = gelu(inp), elementwise; `act` is `Act::Gelu` (erf) or `Act::GeluTanh`.
pub fn forward(rec: &mut Recorder, inp: &Tensor, out: &Tensor, act: Act) {
    assert_eq!(inp.len(), out.len(), "gelu: inp and out sizes");
    let n = inp.len();
    rec.dispatch(&FORWARD, &[n as u32, act as u32], &[&inp.buf, &out.buf], grid_1d(n));
}
