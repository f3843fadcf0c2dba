//! Row gather (shaders/gather.wgsl): `[CLS]` rows for the pooler, masked rows for the MLM head.

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/gather.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("gather.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    rows: u32,
    c: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherBackwardParams {
    tokens: u32,
    c: u32,
    accumulate: u32,
}

const FORWARD: Kernel = Kernel::new::<GatherParams>(SHADER, "gather_forward", &[U, R, R, W]);

/// `out[i, :] = inp[index[i], :]`; inp is (source rows, c), out is (rows, c), index holds `rows` u32.
pub fn forward(rec: &mut Recorder, index: &wgpu::Buffer, inp: &Tensor, out: &Tensor) {
    let c = *out.shape.last().unwrap();
    assert_eq!(*inp.shape.last().unwrap(), c, "gather: row lengths");
    assert_eq!(c % 4, 0, "gather: row length must be a multiple of 4");
    let rows = out.len() / c;
    rec.dispatch(
        &FORWARD,
        &GatherParams {
            rows: rows as u32,
            c: c as u32,
        },
        &[index, &inp.buf, &out.buf],
        grid_1d(rows * c / 4),
    );
}

// reads inverse, dout; writes dinp
const BACKWARD: Kernel = Kernel::new::<GatherBackwardParams>(SHADER, "gather_backward", &[U, R, R, W]);

/// The inverse of a gather index: for each of `tokens` source rows, the output row that gathered it, or -1.
/// Panics if a source row is gathered twice (its gradient would be a sum; the model never does that).
pub fn inverse_index(rows: &[u32], tokens: usize) -> Vec<i32> {
    let mut inverse = vec![-1i32; tokens];
    for (i, &r) in rows.iter().enumerate() {
        let slot = &mut inverse[r as usize];
        assert_eq!(*slot, -1, "gather inverse_index: source row {r} is gathered twice");
        *slot = i as i32;
    }
    inverse
}

/// Backward of `forward`: `dinp[t] = dout[inverse[t]]` where `inverse[t] >= 0`, else 0; with `accumulate`
/// `dinp[t] +=` that instead. dout is (rows, c), dinp (tokens, c), inverse (tokens) i32 from `inverse_index`
/// (upload it with `bytemuck::cast_slice` into a u32 buffer). One invocation per (token, 4 channels).
pub fn backward(rec: &mut Recorder, inverse: &wgpu::Buffer, dout: &Tensor, dinp: &Tensor, accumulate: bool) {
    let c = *dinp.shape.last().unwrap();
    assert_eq!(*dout.shape.last().unwrap(), c, "gather backward: row lengths");
    assert_eq!(c % 4, 0, "gather backward: row length must be a multiple of 4");
    let tokens = dinp.len() / c;
    rec.dispatch(
        &BACKWARD,
        &GatherBackwardParams {
            tokens: tokens as u32,
            c: c as u32,
            accumulate: accumulate as u32,
        },
        &[inverse, &dout.buf, &dinp.buf],
        grid_1d(tokens * c / 4),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD];
