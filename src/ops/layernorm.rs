//! LayerNorm (shaders/layernorm.wgsl), optionally of (inp + residual).

use super::grid_1d;
use crate::gpu::{Access, Kernel, Recorder, Shader, Tensor};

const FORWARD: Kernel = Kernel {
    shader: Shader::Layernorm,
    entry: "layernorm_forward",
    bindings: &[
        Access::Uniform,
        Access::Read,      // inp (rows, c)
        Access::Read,      // residual (rows, c)
        Access::Read,      // weight (c)
        Access::Read,      // bias (c)
        Access::ReadWrite, // out (rows, c)
        Access::ReadWrite, // mean (rows)
        Access::ReadWrite, // rstd (rows)
    ],
};

/// out = LayerNorm(inp [+ residual]) * weight + bias over the last dimension; mean and rstd (rows) are saved.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    rec: &mut Recorder,
    inp: &Tensor,
    residual: Option<&Tensor>,
    weight: &Tensor,
    bias: &Tensor,
    eps: f32,
    out: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
) {
    let c = weight.len();
    assert_eq!(c % 4, 0, "layernorm: channels must be a multiple of 4");
    let rows = out.len() / c;
    assert_eq!(inp.len(), rows * c, "layernorm: inp shape");
    let res = residual.unwrap_or(inp);
    rec.dispatch(
        &FORWARD,
        &[rows as u32, c as u32, eps.to_bits(), residual.is_some() as u32],
        &[
            &inp.buf,
            &res.buf,
            &weight.buf,
            &bias.buf,
            &out.buf,
            &mean.buf,
            &rstd.buf,
        ],
        grid_1d(rows),
    );
}
