//! Multi-head attention (`ops::attention`): the unfused and the fused forward, and the softmax backward.

use super::{dot, f64s, fd_check, read_one, to_f32, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Gpu;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::gpu::Tensor;
use bert_wgpu::ops::attention;

fn attention_shape(batch: usize, seq: usize, heads: usize, head_dim: usize) -> attention::Shape {
    attention::Shape {
        batch,
        seq,
        heads,
        head_dim,
    }
}

/// QKV (batch * seq, 3 * heads * head_dim) and the mask (batch, seq) of `shape`, uploaded.
fn upload_attention_inputs(gpu: &Gpu, shape: attention::Shape, qkv: &[f32], mask: &[f32]) -> (Tensor, Tensor) {
    let attention::Shape {
        batch,
        seq,
        heads,
        head_dim,
    } = shape;
    (
        gpu.upload(qkv, &[batch * seq, 3 * heads * head_dim], "qkv").unwrap(),
        gpu.upload(mask, &[batch, seq], "mask").unwrap(),
    )
}

#[test]
fn masked_multi_head_attention() {
    let Some(gpu) = common::gpu() else { return };
    let (batch, seq, heads, d) = (2, 12, 3, 8);
    let h = heads * d;
    let qkv = random(batch * seq * 3 * h, 15, 2.0);
    let mut mask = vec![1.0f32; batch * seq];
    mask[seq + 7..].iter_mut().for_each(|m| *m = 0.0); // second sequence: 7 tokens, 5 padding
    let shape = attention_shape(batch, seq, heads, d);
    let (qkv_t, mask_t) = upload_attention_inputs(&gpu, shape, &qkv, &mask);
    let probs = gpu.zeros(&[batch, heads, seq, seq], "probs").unwrap();
    let ctx = gpu.zeros(&[batch * seq, h], "ctx").unwrap();
    let mut rec = Recorder::new(&gpu);
    attention::forward(&mut rec, shape, &qkv_t, &mask_t, &probs, &ctx, None);
    let got = read_tensors(rec, &[&ctx, &probs]);
    let (want_ctx, want_probs) = attention(&qkv, &mask, batch, seq, heads, d);
    assert_close("attention probs", &got[1], &to_f32(&want_probs), 1e-6);
    assert_close("attention context", &got[0], &to_f32(&want_ctx), 1e-5);
}

#[test]
fn fused_attention_matches_the_reference_across_key_blocks_and_padding() {
    let Some(gpu) = common::gpu() else { return };
    // 3 sequences of 76 positions (two query blocks of 64, keys in blocks of 8 with a partial last one):
    // full, 41 tokens, and a sequence whose every key is padding (its context must be zero).
    for d in [8, 64] {
        let (batch, seq, heads) = (3, 76, 2);
        let h = heads * d;
        let qkv = random(batch * seq * 3 * h, 16, 2.0);
        let mut mask = vec![1.0f32; batch * seq];
        mask[seq + 41..2 * seq].iter_mut().for_each(|m| *m = 0.0);
        mask[2 * seq..].iter_mut().for_each(|m| *m = 0.0);
        let shape = attention_shape(batch, seq, heads, d);
        let (qkv_t, mask_t) = upload_attention_inputs(&gpu, shape, &qkv, &mask);
        let ctx = gpu
            .upload(&vec![7.0; batch * seq * h], &[batch * seq, h], "ctx")
            .unwrap();
        let mut rec = Recorder::new(&gpu);
        attention::fused_forward(&mut rec, shape, &qkv_t, &mask_t, &ctx);
        let got = read_one(rec, &ctx);
        let (want, _) = attention(&qkv, &mask, batch, seq, heads, d);
        let mut want = to_f32(&want);
        want[2 * seq * h..].iter_mut().for_each(|v| *v = 0.0);
        assert_close(&format!("fused attention, head_dim {d}"), &got, &want, 1e-5);
    }
}

// ---- Attention softmax -----------------------------------------------------------------------------------

#[test]
fn softmax_backward_finite_differences() {
    let seq = 6;
    let scores = f64s(&random(2 * seq, 50, 3.0));
    let dp = f64s(&random(2 * seq, 51, 1.0));
    let mask = [true, true, false, true, true, false];
    let probs = softmax_masked(&scores, &mask, seq);
    let grad = softmax_backward(&probs, &dp, seq);
    fd_check(
        "softmax backward",
        |s| dot(&dp, &softmax_masked(s, &mask, seq)),
        &scores,
        &grad,
        52,
    );
}

#[test]
fn softmax_backward_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    let (batch, heads, seq) = (2, 3, 12);
    let rows = batch * heads * seq;
    let scores = f64s(&random(rows * seq, 53, 3.0));
    let mut probs = Vec::new();
    for bt in 0..batch {
        let valid = if bt == 0 { seq } else { 7 }; // second sequence: 7 tokens, 5 padding keys
        let mask: Vec<bool> = (0..seq).map(|j| j < valid).collect();
        let part = &scores[bt * heads * seq * seq..(bt + 1) * heads * seq * seq];
        probs.extend(to_f32(&softmax_masked(part, &mask, seq)));
    }
    let dp = random(rows * seq, 54, 1.0);
    let probs_t = up(&gpu, &probs, &[batch, heads, seq, seq]);
    let dp_t = up(&gpu, &dp, &[batch, heads, seq, seq]);
    let mut rec = Recorder::new(&gpu);
    attention::softmax_backward(&mut rec, rows, seq, &probs_t, &dp_t);
    let got = read_tensors(rec, &[&dp_t]).remove(0);
    let want = softmax_backward(&f64s(&probs), &f64s(&dp), seq);
    // Terms P * dP <= 1 summed over 12 keys in f32.
    assert_close("softmax backward", &got, &to_f32(&want), 1e-6);
    for (i, (&g, &p)) in got.iter().zip(&probs).enumerate() {
        assert!(p != 0.0 || g == 0.0, "masked key {i} got gradient {g}");
    }
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// Multi-head attention on a fused qkv (tokens, 3H): context (tokens, H) and probabilities
/// (batch, heads, seq, seq); keys with mask 0 get probability 0.
pub(crate) fn attention(
    qkv: &[f32],
    mask: &[f32],
    batch: usize,
    seq: usize,
    heads: usize,
    d: usize,
) -> (Vec<f64>, Vec<f64>) {
    let h = heads * d;
    let at = |b: usize, s: usize, part: usize, hd: usize, i: usize| {
        qkv[(b * seq + s) * 3 * h + part * h + hd * d + i] as f64
    };
    let mut ctx = vec![0.0; batch * seq * h];
    let mut probs = vec![0.0; batch * heads * seq * seq];
    for b in 0..batch {
        for hd in 0..heads {
            for i in 0..seq {
                let scores: Vec<f64> = (0..seq)
                    .map(|j| (0..d).map(|e| at(b, i, 0, hd, e) * at(b, j, 1, hd, e)).sum::<f64>() / (d as f64).sqrt())
                    .collect();
                let mx = (0..seq)
                    .filter(|&j| mask[b * seq + j] != 0.0)
                    .map(|j| scores[j])
                    .fold(f64::MIN, f64::max);
                let ex: Vec<f64> = (0..seq)
                    .map(|j| {
                        if mask[b * seq + j] != 0.0 {
                            (scores[j] - mx).exp()
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let sum: f64 = ex.iter().sum();
                for j in 0..seq {
                    let p = ex[j] / sum;
                    probs[((b * heads + hd) * seq + i) * seq + j] = p;
                    for e in 0..d {
                        ctx[(b * seq + i) * h + hd * d + e] += p * at(b, j, 2, hd, e);
                    }
                }
            }
        }
    }
    (ctx, probs)
}

/// Softmax of each row of length seq over the keys with mask 1 (others get 0).
pub(crate) fn softmax_masked(scores: &[f64], key_mask: &[bool], seq: usize) -> Vec<f64> {
    let mut out = vec![0.0; scores.len()];
    for (r, row) in scores.chunks(seq).enumerate() {
        let mx = (0..seq)
            .filter(|&j| key_mask[j])
            .map(|j| row[j])
            .fold(f64::MIN, f64::max);
        let sum: f64 = (0..seq).filter(|&j| key_mask[j]).map(|j| (row[j] - mx).exp()).sum();
        for j in (0..seq).filter(|&j| key_mask[j]) {
            out[r * seq + j] = (row[j] - mx).exp() / sum;
        }
    }
    out
}

/// Softmax backward per row of length seq: dscores = P * (dP - sum(dP * P)).
pub(crate) fn softmax_backward(probs: &[f64], dprobs: &[f64], seq: usize) -> Vec<f64> {
    let mut out = vec![0.0; probs.len()];
    for r in 0..probs.len() / seq {
        let row = r * seq..(r + 1) * seq;
        let dot: f64 = probs[row.clone()]
            .iter()
            .zip(&dprobs[row.clone()])
            .map(|(p, d)| p * d)
            .sum();
        for j in row {
            out[j] = probs[j] * (dprobs[j] - dot);
        }
    }
    out
}
