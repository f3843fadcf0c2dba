//! Softmax cross-entropy over rows of logits (shaders/cross_entropy.wgsl): losses, log-sum-exp and
//! accuracy per row, and the in-place backward. A label >= V (e.g. -100 as u32) marks a row that is not
//! scored: loss 0, correct 0, gradient 0.

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/cross_entropy.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("cross_entropy.wgsl", crate::gpu::shaders::REDUCE);

/// The label of a row or token that is not scored (any label >= V is skipped; this one is >= every V).
pub const IGNORE: u32 = u32::MAX;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CrossEntropyParams {
    rows: u32,
    v: u32,
    scale: f32,
    stride: u32,
}

// reads logits, labels; writes losses, lse, correct
const FORWARD: Kernel = Kernel::new::<CrossEntropyParams>(SHADER, "cross_entropy_forward", &[U, R, R, W, W, W]);

// reads labels, lse; writes dlogits
const BACKWARD: Kernel = Kernel::new::<CrossEntropyParams>(SHADER, "cross_entropy_backward", &[U, R, R, W]);

/// Workgroup counts for one workgroup per row, folded into y beyond 65535 (the kernel rebuilds the row as
/// `workgroup_id.x + workgroup_id.y * num_workgroups.x`).
fn grid_rows(rows: usize) -> [u32; 3] {
    if rows <= 65535 {
        [rows as u32, 1, 1]
    } else {
        let y = rows.div_ceil(65535);
        [rows.div_ceil(y) as u32, y as u32, 1]
    }
}

/// Rows and row stride of logits (rows, stride), whose first `classes` columns are scored.
fn shape(logits: &Tensor, classes: usize) -> (usize, usize) {
    let stride = *logits.shape.last().expect("cross_entropy: logits have a shape");
    assert!(
        classes <= stride,
        "cross_entropy: {classes} classes in rows of {stride}"
    );
    (logits.len() / stride.max(1), stride)
}

/// Per row of logits (rows, stride >= V; the first V columns are the classes): `losses = lse -
/// logits[label]`, lse = log-sum-exp (saved for `backward`), correct = 1.0 where the first argmax equals the
/// label, else 0.0. labels are (rows) u32. One 64-invocation workgroup per row (a fixed-order tree reduction
/// in workgroup memory); any V.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    rec: &mut Recorder,
    logits: &Tensor,
    classes: usize,
    labels: &wgpu::Buffer,
    losses: &Tensor,
    lse: &Tensor,
    correct: &Tensor,
) {
    let (rows, stride) = shape(logits, classes);
    assert_eq!(losses.len(), rows, "cross_entropy: losses shape");
    assert_eq!(lse.len(), rows, "cross_entropy: lse shape");
    assert_eq!(correct.len(), rows, "cross_entropy: correct shape");
    rec.dispatch(
        &FORWARD,
        &CrossEntropyParams {
            rows: rows as u32,
            v: classes as u32,
            scale: 0.0,
            stride: stride as u32,
        },
        &[&logits.buf, labels, &losses.buf, &lse.buf, &correct.buf],
        grid_rows(rows),
    );
}

/// In place: the first V = `classes` columns of the logits become dlogits = (softmax(logits) -
/// onehot(label)) * scale, from the forward's lse; the columns past V are left as they are. For the mean
/// loss over the scored rows, scale = 1 / (scored rows). One invocation per element.
pub fn backward(
    rec: &mut Recorder,
    logits_to_dlogits: &Tensor,
    classes: usize,
    labels: &wgpu::Buffer,
    lse: &Tensor,
    scale: f32,
) {
    let (rows, stride) = shape(logits_to_dlogits, classes);
    assert_eq!(lse.len(), rows, "cross_entropy backward: lse shape");
    rec.dispatch(
        &BACKWARD,
        &CrossEntropyParams {
            rows: rows as u32,
            v: classes as u32,
            scale,
            stride: stride as u32,
        },
        &[labels, &lse.buf, &logits_to_dlogits.buf],
        grid_1d(rows * classes),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD];
