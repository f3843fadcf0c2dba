//! LayerNorm (shaders/layernorm.wgsl), optionally of (inp + residual).

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/layernorm.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("layernorm.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LayernormParams {
    rows: u32,
    c: u32,
    eps: f32,
    has_residual: u32,
}

// reads inp, residual, weight, bias; writes out, mean, rstd
const FORWARD: Kernel = Kernel::new::<LayernormParams>(SHADER, "layernorm_forward", &[U, R, R, R, R, W, W, W]);

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
        &LayernormParams {
            rows: rows as u32,
            c: c as u32,
            eps,
            has_residual: residual.is_some() as u32,
        },
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

// reads dout, inp, residual, mean, rstd, weight; writes dinp
const BACKWARD: Kernel = Kernel::new::<LayernormParams>(SHADER, "layernorm_backward", &[U, R, R, R, R, R, R, W]);

// reads dout, inp, residual, mean, rstd, weight; writes dinp, dres
const BACKWARD_DRES: Kernel =
    Kernel::new::<LayernormParams>(SHADER, "layernorm_backward_dres", &[U, R, R, R, R, R, R, W, W]);

// reads dout, inp, residual, mean, rstd; writes dweight, dbias
const BACKWARD_PARAMS: Kernel =
    Kernel::new::<LayernormParams>(SHADER, "layernorm_backward_params", &[U, R, R, R, R, R, W, W]);

/// Rows and channels of a backward call, with its shape checks.
fn backward_shape(
    dout: &Tensor,
    inp: &Tensor,
    residual: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
) -> (usize, usize) {
    let c = *dout.shape.last().expect("layernorm backward: dout has a shape");
    assert_eq!(c % 4, 0, "layernorm backward: channels must be a multiple of 4");
    let rows = dout.len() / c;
    assert_eq!(inp.len(), rows * c, "layernorm backward: inp shape");
    if let Some(r) = residual {
        assert_eq!(r.len(), rows * c, "layernorm backward: residual shape");
    }
    assert_eq!(mean.len(), rows, "layernorm backward: mean shape");
    assert_eq!(rstd.len(), rows, "layernorm backward: rstd shape");
    (rows, c)
}

/// Backward to the input. x = inp (+ residual) was normalised, xhat = (x - mean) * rstd, dxhat = dout * weight:
/// dinp = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), written (not accumulated). With `dres`,
/// the same values are written into dres too (the residual branch receives the same gradient). mean and rstd
/// (rows) are the forward's; one invocation per row.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    rec: &mut Recorder,
    dout: &Tensor,
    inp: &Tensor,
    residual: Option<&Tensor>,
    weight: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
    dinp: &Tensor,
    dres: Option<&Tensor>,
) {
    let (rows, c) = backward_shape(dout, inp, residual, mean, rstd);
    assert_eq!(weight.len(), c, "layernorm backward: weight shape");
    assert_eq!(dinp.len(), rows * c, "layernorm backward: dinp shape");
    let params = LayernormParams {
        rows: rows as u32,
        c: c as u32,
        eps: 0.0,
        has_residual: residual.is_some() as u32,
    };
    let res = residual.unwrap_or(inp);
    let mut buffers = vec![
        &dout.buf,
        &inp.buf,
        &res.buf,
        &mean.buf,
        &rstd.buf,
        &weight.buf,
        &dinp.buf,
    ];
    let kernel = match dres {
        Some(d) => {
            assert_eq!(d.len(), rows * c, "layernorm backward: dres shape");
            buffers.push(&d.buf);
            &BACKWARD_DRES
        }
        None => &BACKWARD,
    };
    rec.dispatch(kernel, &params, &buffers, grid_1d(rows));
}

/// Backward to the parameters, accumulated: dweight += sum over rows of dout * xhat, dbias += sum of dout
/// (both (c)). One invocation per 4 channels loops over the rows in order: deterministic.
#[allow(clippy::too_many_arguments)]
pub fn backward_params(
    rec: &mut Recorder,
    dout: &Tensor,
    inp: &Tensor,
    residual: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    dweight: &Tensor,
    dbias: &Tensor,
) {
    let (rows, c) = backward_shape(dout, inp, residual, mean, rstd);
    assert_eq!(dweight.len(), c, "layernorm backward: dweight shape");
    assert_eq!(dbias.len(), c, "layernorm backward: dbias shape");
    let res = residual.unwrap_or(inp);
    rec.dispatch(
        &BACKWARD_PARAMS,
        &LayernormParams {
            rows: rows as u32,
            c: c as u32,
            eps: 0.0,
            has_residual: residual.is_some() as u32,
        },
        &[
            &dout.buf,
            &inp.buf,
            &res.buf,
            &mean.buf,
            &rstd.buf,
            &dweight.buf,
            &dbias.buf,
        ],
        grid_1d(c / 4),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD, BACKWARD_DRES, BACKWARD_PARAMS];
