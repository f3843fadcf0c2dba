//! Sums over rows, added into a vector (shaders/sum_rows.wgsl): the bias's backward (its forward is the
//! matmul epilogue) and the final sum of a matmul split along k (`matmul::forward_with`).

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader};

/// `shaders/sum_rows.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("sum_rows.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SumRowsParams {
    rows: u32,
    n: u32,
    stride: u32,
}

// reads x; writes out
const ADD: Kernel = Kernel::new::<SumRowsParams>(SHADER, "add_row_sum", &[U, R, W]);

/// out (n) += sums over the rows of x (rows, stride >= n), whose columns past n are not read.
pub fn add(rec: &mut Recorder, x: &wgpu::Buffer, rows: usize, stride: usize, out: &wgpu::Buffer, n: usize) {
    assert!(stride >= n, "sum_rows: row stride {stride} below {n} columns");
    rec.dispatch(
        &ADD,
        &SumRowsParams {
            rows: rows as u32,
            n: n as u32,
            stride: stride as u32,
        },
        &[x, out],
        grid_1d(n),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[ADD];
