//! Squared error (`ops::mse`): the loss and its gradient.

use super::{f64s, fd_check, to_f32, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::ops::mse;

#[test]
fn squared_error_backward_finite_differences() {
    let values = f64s(&random(5, 92, 2.0));
    let targets = f64s(&random(5, 93, 2.0));
    let scale = 1.0 / 4.0; // mean over the 4 scored rows
    let (_, grad) = squared_error(&values, &targets, 4, scale);
    let loss = |x: &[f64]| squared_error(x, &targets, 4, scale).0.iter().sum::<f64>() * scale;
    fd_check("squared error backward", loss, &values, &grad, 94);
}

#[test]
fn squared_error_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    let (rows, scored) = (70, 67); // more than one workgroup; padding rows score nothing
    let values = random(rows, 95, 2.0);
    let targets = random(rows, 96, 2.0);
    let scale = 1.0 / scored as f32;
    let values_t = up(&gpu, &values, &[rows, 1]);
    let targets_t = up(&gpu, &targets, &[rows]);
    let losses = gpu.zeros(&[rows], "losses").unwrap();
    let mut rec = Recorder::new(&gpu);
    mse::forward(&mut rec, &values_t, &targets_t, &losses, scored);
    mse::backward(&mut rec, &values_t, &targets_t, scored, scale);
    let got = read_tensors(rec, &[&losses, &values_t]);
    let (want_losses, want_grad) = squared_error(&f64s(&values), &f64s(&targets), scored, scale as f64);
    assert_close("squared errors", &got[0], &to_f32(&want_losses), 1e-6);
    assert_close("squared error gradient", &got[1], &to_f32(&want_grad), 1e-7);
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// Squared errors (x - t)^2 of the first `scored` rows (0 after) and their gradient 2 (x - t) * scale.
pub(crate) fn squared_error(values: &[f64], targets: &[f64], scored: usize, scale: f64) -> (Vec<f64>, Vec<f64>) {
    let d = |i: usize| if i < scored { values[i] - targets[i] } else { 0.0 };
    let n = values.len();
    (
        (0..n).map(|i| d(i) * d(i)).collect(),
        (0..n).map(|i| 2.0 * d(i) * scale).collect(),
    )
}
