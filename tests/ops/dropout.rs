//! Dropout (`ops::dropout`): exact, reproducible masks shared by the backward.

use super::{f64s, fd_check, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Gpu;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::gpu::Tensor;
use bert_wgpu::ops::dropout;

// ---- Dropout ---------------------------------------------------------------------------------------------

fn dropout_run(gpu: &Gpu, inp: &Tensor, p: f32, seed: u32, stream: u32) -> Vec<f32> {
    let out = gpu.zeros(&inp.shape, "out").unwrap();
    let mut rec = Recorder::new(gpu);
    dropout::forward(&mut rec, inp, &out, p, seed, stream);
    read_tensors(rec, &[&out]).remove(0)
}

#[test]
fn dropout_masks_are_exact_reproducible_and_shared_by_backward() {
    let Some(gpu) = common::gpu() else { return };
    let n = 1 << 17;
    let x = random(n, 110, 1.0);
    assert!(x.iter().all(|&v| v != 0.0));
    let xt = up(&gpu, &x, &[n]);
    let seed = dropout::step_seed(1234, 7);

    let copy = dropout_run(&gpu, &xt, 0.0, seed, 3);
    assert!(
        copy.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()),
        "p = 0 is an exact copy"
    );

    for p in [0.1f32, 0.5] {
        let out = dropout_run(&gpu, &xt, p, seed, 3);
        let scale = (1.0 / (1.0 - p as f64)) as f32;
        // The GPU mask is the host's hash, bit for bit, and kept values are inp * scale exactly.
        let want: Vec<f32> = (0..n)
            .map(|i| {
                if dropout::keeps(p, seed, 3, i as u32) {
                    x[i] * scale
                } else {
                    0.0
                }
            })
            .collect();
        assert_close(&format!("dropout p={p}"), &out, &want, 0.0);
        let kept = out.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        // Binomial standard deviation sqrt(p (1 - p) / n) <= 0.0014: 5 of them.
        assert!((kept - (1.0 - p as f64)).abs() < 0.007, "p={p}: kept fraction {kept}");

        // Backward: the same mask, scaled the same way.
        let dout = random(n, 111, 1.0);
        let (dt, dinp) = (up(&gpu, &dout, &[n]), gpu.zeros(&[n], "dinp").unwrap());
        let mut rec = Recorder::new(&gpu);
        dropout::backward(&mut rec, &dt, &dinp, p, seed, 3);
        let got = read_tensors(rec, &[&dinp]).remove(0);
        let want: Vec<f32> = (0..n)
            .map(|i| if out[i] != 0.0 { dout[i] * scale } else { 0.0 })
            .collect();
        assert_close(&format!("dropout backward p={p}"), &got, &want, 0.0);
    }

    // Deterministic across runs; a different step, seed or stream draws a different mask (about 2 p (1 - p)
    // = 18% of elements differ for p = 0.1).
    let p = 0.1;
    let base = dropout_run(&gpu, &xt, p, seed, 3);
    assert_eq!(
        base,
        dropout_run(&gpu, &xt, p, seed, 3),
        "same seed and stream, same mask"
    );
    let differ = |other: &[f32]| {
        base.iter()
            .zip(other)
            .filter(|(a, b)| (**a == 0.0) != (**b == 0.0))
            .count() as f64
            / n as f64
    };
    for (what, s, stream) in [
        ("next step", dropout::step_seed(1234, 8), 3),
        ("other run seed", dropout::step_seed(1235, 7), 3),
        ("other stream", seed, 4),
    ] {
        let frac = differ(&dropout_run(&gpu, &xt, p, s, stream));
        assert!((frac - 0.18).abs() < 0.01, "{what}: {frac} of the mask differs");
    }
}

#[test]
fn dropout_reference_finite_differences_and_step_seeds() {
    // out = x * keep * scale is linear: its derivative is the mask times the scale.
    let (p, seed, stream) = (0.3f32, dropout::step_seed(5, 1), 2);
    let scale = 1.0 / (1.0 - p as f64);
    let mask: Vec<f64> = (0..40)
        .map(|i| if dropout::keeps(p, seed, stream, i) { scale } else { 0.0 })
        .collect();
    let x = f64s(&random(40, 112, 1.0));
    let dout = f64s(&random(40, 113, 1.0));
    let grad: Vec<f64> = dout.iter().zip(&mask).map(|(d, m)| d * m).collect();
    let f = |x: &[f64]| x.iter().zip(&mask).zip(&dout).map(|((x, m), d)| x * m * d).sum::<f64>();
    fd_check("dropout backward", f, &x, &grad, 114);

    let seeds: std::collections::HashSet<u32> = (0..100_000).map(|s| dropout::step_seed(42, s)).collect();
    assert_eq!(seeds.len(), 100_000, "step seeds of one run are distinct");
}
