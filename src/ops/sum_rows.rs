//! Sums over rows, added into a vector (shaders/sum_rows.wgsl): the bias's backward (its forward is the
//! matmul epilogue) and the final sum of a matmul split along k (`matmul::forward_with`).

use super::grid_1d;
use crate::gpu::{Access, Kernel, Recorder, Shader};

const ADD: Kernel = Kernel {
    shader: Shader::SumRows,
    entry: "add_row_sum",
    bindings: &[
        Access::Uniform,
        Access::Read,      // x (rows, stride)
        Access::ReadWrite, // out (n), accumulated
    ],
};

/// out (n) += sums over the rows of x (rows, stride >= n), whose columns past n are not read.
pub fn add(rec: &mut Recorder, x: &wgpu::Buffer, rows: usize, stride: usize, out: &wgpu::Buffer, n: usize) {
    assert!(stride >= n, "sum_rows: row stride {stride} below {n} columns");
    rec.dispatch(&ADD, &[rows as u32, n as u32, stride as u32], &[x, out], grid_1d(n));
}
