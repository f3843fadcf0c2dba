//! Question-answering logits (shaders/span.wgsl): (tokens, 2) start/end pairs to one row of start logits
//! and one of end logits per sequence, so the cross-entropy kernel takes the softmax over positions.

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/span.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("span.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SpanParams {
    batch: u32,
    seq: u32,
    valid: u32,
}

// reads pairs; writes rows
const FORWARD: Kernel = Kernel::new::<SpanParams>(SHADER, "span_forward", &[U, R, W]);

// reads drows; writes dpairs
const BACKWARD: Kernel = Kernel::new::<SpanParams>(SHADER, "span_backward", &[U, R, W]);

/// rows[c, b, s] = pairs[b * seq + s, c] for s < valid, else -1e30 (out of the softmax). `rows` is
/// (2, batch, seq): the start logits of every sequence, then the end logits.
pub fn forward(rec: &mut Recorder, pairs: &Tensor, rows: &Tensor, valid: usize) {
    let [_, batch, seq] = rows.shape[..] else {
        panic!("span: rows must be (2, batch, seq), got {:?}", rows.shape)
    };
    assert_eq!(pairs.shape, [batch * seq, 2], "span: pairs shape");
    assert!(valid <= seq, "span: valid positions exceed seq");
    rec.dispatch(
        &FORWARD,
        &SpanParams {
            batch: batch as u32,
            seq: seq as u32,
            valid: valid as u32,
        },
        &[&pairs.buf, &rows.buf],
        grid_1d(2 * batch * seq),
    );
}

/// Backward of `forward`: dpairs[b * seq + s, c] = drows[c, b, s] for s < valid, else 0.
pub fn backward(rec: &mut Recorder, drows: &Tensor, dpairs: &Tensor, valid: usize) {
    let [_, batch, seq] = drows.shape[..] else {
        panic!("span backward: drows must be (2, batch, seq), got {:?}", drows.shape)
    };
    assert_eq!(dpairs.shape, [batch * seq, 2], "span backward: dpairs shape");
    rec.dispatch(
        &BACKWARD,
        &SpanParams {
            batch: batch as u32,
            seq: seq as u32,
            valid: valid as u32,
        },
        &[&drows.buf, &dpairs.buf],
        grid_1d(2 * batch * seq),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD];
