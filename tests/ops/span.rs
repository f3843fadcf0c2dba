//! The QA span rows (`ops::span`): forward and backward.

use super::up;
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::ops::span;

// ---- Question-answering span rows and squared error -------------------------------------------------------

#[test]
fn span_rows_forward_and_backward_match_reference() {
    let Some(gpu) = common::gpu() else { return };
    let (batch, seq, valid) = (3, 8, 6);
    let pairs = random(batch * seq * 2, 90, 3.0);
    let drows = random(2 * batch * seq, 91, 1.0);
    let pairs_t = up(&gpu, &pairs, &[batch * seq, 2]);
    let rows_t = gpu.zeros(&[2, batch, seq], "rows").unwrap();
    let drows_t = up(&gpu, &drows, &[2, batch, seq]);
    let dpairs_t = gpu.zeros(&[batch * seq, 2], "dpairs").unwrap();
    let mut rec = Recorder::new(&gpu);
    span::forward(&mut rec, &pairs_t, &rows_t, valid);
    span::backward(&mut rec, &drows_t, &dpairs_t, valid);
    let got = read_tensors(rec, &[&rows_t, &dpairs_t]);
    assert_close("span rows", &got[0], &span_rows(&pairs, batch, seq, valid), 0.0);
    let want = span_rows_backward(&drows, batch, seq, valid);
    assert_close("span rows backward", &got[1], &want, 0.0);
    // Every position is masked or copied exactly once: the two maps are transposes of each other.
    assert_eq!(
        span_rows_backward(&span_rows(&pairs, batch, seq, seq), batch, seq, seq),
        pairs
    );
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// Question-answering logits (batch * seq, 2) as rows (2, batch, seq): start logits, then end logits;
/// positions at or past `valid` hold -1e30.
pub(crate) fn span_rows(pairs: &[f32], batch: usize, seq: usize, valid: usize) -> Vec<f32> {
    let tokens = batch * seq;
    (0..2 * tokens)
        .map(|i| {
            let (column, token) = (i / tokens, i % tokens);
            if token % seq < valid {
                pairs[token * 2 + column]
            } else {
                -1.0e30
            }
        })
        .collect()
}

/// Backward of `span_rows`: the row gradients back in (batch * seq, 2), 0 at masked positions.
pub(crate) fn span_rows_backward(drows: &[f32], batch: usize, seq: usize, valid: usize) -> Vec<f32> {
    let tokens = batch * seq;
    (0..2 * tokens)
        .map(|i| {
            let (token, column) = (i / 2, i % 2);
            if token % seq < valid {
                drows[column * tokens + token]
            } else {
                0.0
            }
        })
        .collect()
}
