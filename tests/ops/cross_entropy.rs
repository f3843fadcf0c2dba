//! Cross entropy (`ops::cross_entropy`): the loss and its gradient, ignored rows included.

use super::{f64s, fd_check, to_f32, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::ops::cross_entropy;
use bert_wgpu::ops::cross_entropy::IGNORE;
use bert_wgpu::rng::Rng;

// ---- Cross-entropy ---------------------------------------------------------------------------------------

#[test]
fn cross_entropy_backward_finite_differences() {
    let v = 7;
    let logits = f64s(&random(3 * v, 80, 4.0));
    let labels = [2u32, IGNORE, 6];
    let scale = 0.5; // mean over the 2 scored rows
    let grad = cross_entropy_backward(&logits, &labels, v, scale);
    let loss = |x: &[f64]| cross_entropy(x, &labels, v).0.iter().sum::<f64>() * scale;
    fd_check("cross-entropy backward", loss, &logits, &grad, 81);
}

#[test]
fn cross_entropy_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    // A vocabulary that is not a multiple of 64 and BERT's, stored as the MLM head stores it (rows padded to
    // a multiple of 4, with values past v that must be neither read nor written); rows beyond 65535
    // workgroups (folded into y).
    for (rows, v, pad) in [(7usize, 1000usize, 0usize), (3, 30522, 2), (65537, 5, 0)] {
        let mut logits = random(rows * v, 82 + v as u64, 4.0);
        let mut rng = Rng::new(83);
        let mut labels: Vec<u32> = (0..rows).map(|_| (rng.next_u64() % v as u64) as u32).collect();
        if rows == 7 {
            labels[2] = IGNORE;
            // Row 3: a tie at the maximum; the first index is the argmax, so label 700 is not "correct".
            logits[3 * v + 5] = 10.0;
            logits[3 * v + 700] = 10.0;
            labels[3] = 700;
            // Row 4: the label is the argmax.
            logits[4 * v + 11] = 10.0;
            labels[4] = 11;
        }
        let scored = labels.iter().filter(|&&l| (l as usize) < v).count();
        let scale = 1.0 / scored as f32;
        let stride = v + pad;
        let stored: Vec<f32> = logits
            .chunks(v)
            .flat_map(|row| row.iter().copied().chain(std::iter::repeat_n(99.0, pad)))
            .collect();
        let logits_t = up(&gpu, &stored, &[rows, stride]);
        let labels_b = gpu.upload_u32(&labels, "labels").unwrap();
        let z = || gpu.zeros(&[rows], "z").unwrap();
        let (losses, lse, correct) = (z(), z(), z());
        let mut rec = Recorder::new(&gpu);
        cross_entropy::forward(&mut rec, &logits_t, v, &labels_b, &losses, &lse, &correct);
        cross_entropy::backward(&mut rec, &logits_t, v, &labels_b, &lse, scale);
        let mut got = read_tensors(rec, &[&losses, &lse, &correct, &logits_t]);
        let tails: Vec<f32> = got[3].chunks(stride).flat_map(|row| row[v..].to_vec()).collect();
        assert!(tails.iter().all(|&t| t == 99.0), "the padding past v is left as it was");
        got[3] = got[3].chunks(stride).flat_map(|row| row[..v].to_vec()).collect();

        let x = f64s(&logits);
        let (want_losses, want_lse, want_correct) = cross_entropy(&x, &labels, v);
        let name = |t: &str| format!("cross-entropy {t} ({rows} x {v})");
        // lse ~ 4 + ln(v): each invocation sums up to 477 exps in f32, relative error ~ 477 * 6e-8 worst
        // case; the loss subtracts one logit.
        assert_close(&name("lse"), &got[1], &to_f32(&want_lse), 2e-5);
        assert_close(&name("losses"), &got[0], &to_f32(&want_losses), 2e-5);
        assert_close(&name("correct"), &got[2], &to_f32(&want_correct), 0.0);
        let want_d = cross_entropy_backward(&x, &labels, v, scale as f64);
        // Probabilities <= 1 from exp(x - lse): an lse error of 2e-5 is a relative error of 2e-5, times scale.
        assert_close(&name("dlogits"), &got[3], &to_f32(&want_d), 2e-5 * scale);
        if rows == 7 {
            assert_eq!(&got[2][3..5], &[0.0, 1.0], "first argmax on a tie; argmax == label");
            assert!(
                got[3][2 * v..3 * v].iter().all(|&g| g == 0.0),
                "ignored row gets no gradient"
            );
        }
    }
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// Cross-entropy per row of logits (rows, v): (losses, lse, correct); a label >= v scores nothing.
pub(crate) fn cross_entropy(logits: &[f64], labels: &[u32], v: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut losses, mut lses, mut correct) = (vec![], vec![], vec![]);
    for (row, &label) in logits.chunks(v).zip(labels) {
        let mx = row.iter().cloned().fold(f64::MIN, f64::max);
        let argmax = row.iter().position(|&x| x == mx).unwrap();
        let lse = mx + row.iter().map(|x| (x - mx).exp()).sum::<f64>().ln();
        let scored = (label as usize) < v;
        lses.push(lse);
        losses.push(if scored { lse - row[label as usize] } else { 0.0 });
        correct.push(if scored && argmax == label as usize { 1.0 } else { 0.0 });
    }
    (losses, lses, correct)
}

/// d(scale * sum of losses)/d(logits) = (softmax - onehot(label)) * scale; 0 on rows that score nothing.
pub(crate) fn cross_entropy_backward(logits: &[f64], labels: &[u32], v: usize, scale: f64) -> Vec<f64> {
    let (_, lses, _) = cross_entropy(logits, labels, v);
    let mut out = vec![0.0; logits.len()];
    for (r, &label) in labels.iter().enumerate() {
        if label as usize >= v {
            continue;
        }
        for j in 0..v {
            let onehot = if j == label as usize { 1.0 } else { 0.0 };
            out[r * v + j] = ((logits[r * v + j] - lses[r]).exp() - onehot) * scale;
        }
    }
    out
}
