//! Row gather (shaders/gather.wgsl): [CLS] rows for the pooler, masked rows for the MLM head.

use super::grid_1d;
use crate::gpu::{Access, Kernel, Recorder, Shader, Tensor};

const FORWARD: Kernel = Kernel {
    shader: Shader::Gather,
    entry: "gather_forward",
    bindings: &[Access::Uniform, Access::Read, Access::Read, Access::ReadWrite],
};

/// out[i, :] = inp[index[i], :]; inp is (source rows, c), out is (rows, c), index holds `rows` u32.
pub fn forward(rec: &mut Recorder, index: &wgpu::Buffer, inp: &Tensor, out: &Tensor) {
    let c = *out.shape.last().unwrap();
    assert_eq!(*inp.shape.last().unwrap(), c, "gather: row lengths");
    assert_eq!(c % 4, 0, "gather: row length must be a multiple of 4");
    let rows = out.len() / c;
    rec.dispatch(
        &FORWARD,
        &[rows as u32, c as u32],
        &[index, &inp.buf, &out.buf],
        grid_1d(rows * c / 4),
    );
}
