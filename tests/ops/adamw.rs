//! AdamW with clipping (`ops::adamw`): both variants against the reference, step by step.

use super::{f64s, to_f32, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Gpu;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::gpu::Tensor;
use bert_wgpu::ops::adamw;
use bert_wgpu::ops::adamw::AdamHyper;
use bert_wgpu::ops::adamw::AdamVariant;

// ---- AdamW -----------------------------------------------------------------------------------------------

#[test]
fn adamw_steps_match_reference() {
    let Some(gpu) = common::gpu() else { return };
    // 4100 > PARTS * 64 exercises the grid-stride loop of the sums of squares.
    let sizes = [1000usize, 37, 4100];
    let steps = 3;
    for variant in [AdamVariant::Torch, AdamVariant::Google] {
        // Gradients ~U(-1, 1): global norm ~ sqrt(5137 / 3) ~ 41, so 0.5 clips and 1e9 does not.
        for max_norm in [0.5f32, 1e9] {
            adamw_case(&gpu, &sizes, steps, variant, max_norm);
        }
    }
}

fn adamw_case(gpu: &Gpu, sizes: &[usize], steps: i32, variant: AdamVariant, max_norm: f32) {
    let google = variant == AdamVariant::Google;
    let eps = if google { 1e-6 } else { 1e-8 };
    let (lr, beta1, beta2, wd) = (1e-2f32, 0.9f32, 0.999f32, 0.01f32);
    let init: Vec<Vec<f32>> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| random(n, 90 + k as u64, 1.0))
        .collect();
    let params: Vec<Tensor> = init.iter().map(|p| up(gpu, p, &[p.len()])).collect();
    let zeros = || -> Vec<Tensor> { sizes.iter().map(|&n| gpu.zeros(&[n], "z").unwrap()).collect() };
    let (grads, ms, vs) = (zeros(), zeros(), zeros());
    let partials = gpu.zeros(&[sizes.len() * adamw::PARTS], "partials").unwrap();
    let clip = gpu.zeros(&[2], "clip").unwrap();

    let mut cpu_p: Vec<Vec<f64>> = init.iter().map(|p| f64s(p)).collect();
    let mut cpu_m: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    let mut cpu_v = cpu_m.clone();
    let what = format!("{variant:?} max_norm={max_norm}");
    for step in 1..=steps {
        let g: Vec<Vec<f32>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| random(n, 100 * step as u64 + k as u64, 1.0))
            .collect();
        for (t, gk) in grads.iter().zip(&g) {
            gpu.queue.write_buffer(&t.buf, 0, bytemuck::cast_slice(gk));
        }
        let h = AdamHyper {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay: wd,
            step: step as u32,
            variant,
        };
        let mut rec = Recorder::new(gpu);
        for (slot, gt) in grads.iter().enumerate() {
            adamw::sumsq(&mut rec, gt, &partials, slot);
        }
        adamw::clip_scale(&mut rec, &partials, sizes.len(), max_norm, &clip);
        for k in 0..sizes.len() {
            adamw::update(&mut rec, &params[k], &grads[k], &ms[k], &vs[k], &clip, h);
        }
        let mut all: Vec<&Tensor> = vec![&clip];
        for k in 0..sizes.len() {
            all.extend([&params[k], &ms[k], &vs[k], &grads[k]]);
        }
        let got = read_tensors(rec, &all);

        let g64: Vec<Vec<f64>> = g.iter().map(|x| f64s(x)).collect();
        let hyper = (lr as f64, beta1 as f64, beta2 as f64, eps as f64, wd as f64);
        let [norm, scale] = adamw_step(
            &mut cpu_p,
            &g64,
            &mut cpu_m,
            &mut cpu_v,
            hyper,
            step,
            max_norm as f64,
            google,
        );
        // The norm sums 5137 squares in f32 (64 x 64 partial sums, then a tree): relative error ~1e-6.
        let rel = |a: f32, b: f64| ((a as f64 - b) / b).abs();
        assert!(
            rel(got[0][0], norm) < 1e-5,
            "{what} step {step}: norm {} vs {norm}",
            got[0][0]
        );
        assert!(
            rel(got[0][1], scale) < 1e-5,
            "{what} step {step}: scale {} vs {scale}",
            got[0][1]
        );
        assert_eq!(
            max_norm < 1e9,
            scale < 1.0,
            "{what}: clipping engaged only for the small max_norm"
        );
        for k in 0..sizes.len() {
            let name = |t: &str| format!("{what} step {step} tensor {k} {t}");
            let base = 1 + 4 * k;
            // Updates are ~lr * O(1) with f32 relative error ~1e-6 on top of f32 parameters ~1: a few 1e-7.
            assert_close(&name("param"), &got[base], &to_f32(&cpu_p[k]), 2e-6);
            // |m| <= 0.3 and v <= 0.003 (gradients <= 1): a few f32 roundings of each, ~3e-8 and ~3e-10.
            assert_close(&name("m"), &got[base + 1], &to_f32(&cpu_m[k]), 2e-7);
            assert_close(&name("v"), &got[base + 2], &to_f32(&cpu_v[k]), 5e-9);
            assert!(got[base + 3].iter().all(|&x| x == 0.0), "{}", name("grad is zeroed"));
        }
    }
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// One AdamW step over several tensors with global-norm clipping, in f64; returns the [norm, scale] it used.
/// `google`: BERT's AdamWeightDecay (no bias correction, decay inside the update); else torch.optim.AdamW.
#[allow(clippy::too_many_arguments)]
pub(crate) fn adamw_step(
    params: &mut [Vec<f64>],
    grads: &[Vec<f64>],
    m: &mut [Vec<f64>],
    v: &mut [Vec<f64>],
    (lr, beta1, beta2, eps, wd): (f64, f64, f64, f64, f64),
    step: i32,
    max_norm: f64,
    google: bool,
) -> [f64; 2] {
    let norm = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
    let scale = (max_norm / (norm + 1e-6)).min(1.0);
    let (bc1, bc2) = if google {
        (1.0, 1.0)
    } else {
        (1.0 - beta1.powi(step), 1.0 - beta2.powi(step))
    };
    for t in 0..params.len() {
        for i in 0..params[t].len() {
            let g = grads[t][i] * scale;
            m[t][i] = beta1 * m[t][i] + (1.0 - beta1) * g;
            v[t][i] = beta2 * v[t][i] + (1.0 - beta2) * g * g;
            let adam = (m[t][i] / bc1) / ((v[t][i] / bc2).sqrt() + eps);
            let p = params[t][i];
            params[t][i] = if google {
                p - lr * (adam + wd * p)
            } else {
                p * (1.0 - lr * wd) - lr * adam
            };
        }
    }
    [norm, scale]
}
