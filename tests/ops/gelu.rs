//! GELU (`ops::gelu`), erf and tanh forms: forward and backward.

use super::{f64s, fd_check, read_one, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::ops::gelu;
use bert_wgpu::ops::Act;

#[test]
fn gelu_matches_erf_and_tanh_forms() {
    let Some(gpu) = common::gpu() else { return };
    let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 50.0).collect(); // [-10, 10)
    let xt = gpu.upload(&x, &[x.len()], "x").unwrap();
    for (act, f) in [(Act::Gelu, gelu_erf as fn(f64) -> f64), (Act::GeluTanh, gelu_tanh)] {
        let y = gpu.zeros(&[x.len()], "y").unwrap();
        let mut rec = Recorder::new(&gpu);
        gelu::forward(&mut rec, &xt, &y, act);
        let got = read_one(rec, &y);
        let want: Vec<f32> = x.iter().map(|&v| f(v as f64) as f32).collect();
        // erf's fit has 1.2e-7 relative error; |x| <= 10 keeps absolute error well below 1e-5.
        assert_close(&format!("{act:?}"), &got, &want, 2e-6);
    }
}

// ---- GELU ------------------------------------------------------------------------------------------------

#[test]
fn gelu_backward_finite_differences() {
    let x = f64s(&random(50, 20, 4.0));
    let dout = f64s(&random(50, 21, 1.0));
    for tanh_form in [false, true] {
        let f = |x: &[f64]| {
            let act = |v| if tanh_form { gelu_tanh(v) } else { gelu_erf(v) };
            x.iter().zip(&dout).map(|(&v, d)| d * act(v)).sum::<f64>()
        };
        let grad: Vec<f64> = x.iter().zip(&dout).map(|(&v, d)| d * gelu_grad(v, tanh_form)).collect();
        fd_check(&format!("gelu' tanh={tanh_form}"), f, &x, &grad, 22);
    }
}

#[test]
fn gelu_backward_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 50.0).collect(); // [-10, 10)
    let dout = random(x.len(), 23, 1.0);
    let (xt, dt) = (up(&gpu, &x, &[x.len()]), up(&gpu, &dout, &[x.len()]));
    let deriv = |act: Act, v: f64| match act {
        Act::Gelu => gelu_grad(v, false),
        Act::GeluTanh => gelu_grad(v, true),
        _ => 1.0 - v.tanh().powi(2),
    };
    for act in [Act::Gelu, Act::GeluTanh, Act::Tanh] {
        let dinp = gpu.zeros(&[x.len()], "dinp").unwrap();
        let mut rec = Recorder::new(&gpu);
        gelu::backward(&mut rec, &xt, &dt, &dinp, act);
        let got = read_tensors(rec, &[&dinp]).remove(0);
        let want: Vec<f32> = x
            .iter()
            .zip(&dout)
            .map(|(&v, &d)| (d as f64 * deriv(act, v as f64)) as f32)
            .collect();
        // The derivative is at most 1.13 and |dout| <= 1; erf's fit (1.2e-7 relative) and f32 exp keep the
        // error near 2e-7 (sech^2 is formed without cancellation).
        assert_close(&format!("gelu backward {act:?}"), &got, &want, 5e-7);
    }
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// erf by its Maclaurin series (|x| < 4, where f64 keeps ~1e-9) and +-1 beyond.
pub(crate) fn erf(x: f64) -> f64 {
    if x.abs() >= 4.0 {
        return x.signum();
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

pub(crate) fn gelu_erf(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

pub(crate) fn gelu_tanh(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// d/dx of GELU: exact (erf) form Phi(x) + x phi(x), or the tanh form's derivative.
pub(crate) fn gelu_grad(x: f64, tanh_form: bool) -> f64 {
    if tanh_form {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        let t = (k * (x + 0.044715 * x * x * x)).tanh();
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x)
    } else {
        let cdf = 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
        cdf + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
    }
}
