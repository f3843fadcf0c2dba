//! LayerNorm (`ops::layernorm`), with and without the residual: forward and backward.

use super::{dot, f64s, fd_check, read_one, to_f32, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::ops::layernorm;

#[test]
fn layernorm_with_and_without_residual() {
    let Some(gpu) = common::gpu() else { return };
    let (rows, c) = (13, 40);
    let x = random(rows * c, 8, 3.0);
    let r = random(rows * c, 9, 1.0);
    let w = random(c, 10, 1.0);
    let b = random(c, 11, 1.0);
    let up = |v: &[f32], name| gpu.upload(v, &[v.len()], name).unwrap();
    let (xt, rt, wt, bt) = (up(&x, "x"), up(&r, "r"), up(&w, "w"), up(&b, "b"));
    for residual in [false, true] {
        let out = gpu.zeros(&[rows, c], "out").unwrap();
        let (mean, rstd) = (gpu.zeros(&[rows], "mean").unwrap(), gpu.zeros(&[rows], "rstd").unwrap());
        let mut rec = Recorder::new(&gpu);
        layernorm::forward(
            &mut rec,
            &xt,
            residual.then_some(&rt),
            &wt,
            &bt,
            1e-5,
            &out,
            &mean,
            &rstd,
        );
        let got = read_one(rec, &out);
        let input: Vec<f32> = if residual {
            x.iter().zip(&r).map(|(a, b)| a + b).collect()
        } else {
            x.clone()
        };
        let want = to_f32(&layernorm(&input, &w, &b, 1e-5));
        assert_close(&format!("layernorm residual={residual}"), &got, &want, 1e-5);
    }
}

// ---- LayerNorm -------------------------------------------------------------------------------------------

#[test]
fn layernorm_backward_finite_differences() {
    let (rows, c, eps) = (3, 8, 1e-5);
    let x = f64s(&random(rows * c, 30, 3.0));
    let w = f64s(&random(c, 31, 1.0));
    let b = f64s(&random(c, 32, 1.0));
    let dout = f64s(&random(rows * c, 33, 1.0));
    let (dx, dw, db) = layernorm_backward(&dout, &x, &w, eps);
    fd_check(
        "layernorm dx",
        |x| dot(&dout, &layernorm_f64(x, &w, &b, eps)),
        &x,
        &dx,
        34,
    );
    fd_check(
        "layernorm dweight",
        |w| dot(&dout, &layernorm_f64(&x, w, &b, eps)),
        &w,
        &dw,
        35,
    );
    fd_check(
        "layernorm dbias",
        |b| dot(&dout, &layernorm_f64(&x, &w, b, eps)),
        &b,
        &db,
        36,
    );
}

#[test]
fn layernorm_backward_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    let (rows, c, eps) = (13, 40, 1e-12);
    let inp = random(rows * c, 40, 3.0);
    let res = random(rows * c, 41, 1.0);
    let w = random(c, 42, 1.0);
    let b = random(c, 43, 1.0);
    let dout = random(rows * c, 44, 1.0);
    let acc_w = random(c, 45, 1.0); // what dweight and dbias hold before: the backward adds to it
    let acc_b = random(c, 46, 1.0);
    let (inp_t, res_t) = (up(&gpu, &inp, &[rows, c]), up(&gpu, &res, &[rows, c]));
    let (w_t, b_t, dout_t) = (up(&gpu, &w, &[c]), up(&gpu, &b, &[c]), up(&gpu, &dout, &[rows, c]));
    for residual in [false, true] {
        let z = |shape: &[usize]| gpu.zeros(shape, "z").unwrap();
        let (out, mean, rstd) = (z(&[rows, c]), z(&[rows]), z(&[rows]));
        let (dinp, dres) = (z(&[rows, c]), z(&[rows, c]));
        let (dw, db) = (up(&gpu, &acc_w, &[c]), up(&gpu, &acc_b, &[c]));
        let res_opt = residual.then_some(&res_t);
        let mut rec = Recorder::new(&gpu);
        layernorm::forward(&mut rec, &inp_t, res_opt, &w_t, &b_t, eps as f32, &out, &mean, &rstd);
        let dres_opt = residual.then_some(&dres);
        layernorm::backward(&mut rec, &dout_t, &inp_t, res_opt, &w_t, &mean, &rstd, &dinp, dres_opt);
        layernorm::backward_params(&mut rec, &dout_t, &inp_t, res_opt, &mean, &rstd, &dw, &db);
        let got = read_tensors(rec, &[&dinp, &dres, &dw, &db]);

        let x: Vec<f64> = (0..rows * c)
            .map(|i| inp[i] as f64 + if residual { res[i] as f64 } else { 0.0 })
            .collect();
        let (dx, dweight, dbias) = layernorm_backward(&f64s(&dout), &x, &f64s(&w), eps);
        let name = |t: &str| format!("layernorm {t} residual={residual}");
        // dx ~ rstd * |dout * w| <= ~1 here; f32 row sums over 40 channels and the f32 mean/rstd of the
        // forward leave a few 1e-7.
        assert_close(&name("dinp"), &got[0], &to_f32(&dx), 2e-6);
        if residual {
            assert_close(&name("dres"), &got[1], &got[0], 0.0); // the same values, written twice
        } else {
            assert!(got[1].iter().all(|&v| v == 0.0), "dres untouched without a residual");
        }
        let plus =
            |acc: &[f32], d: &[f64]| -> Vec<f32> { acc.iter().zip(d).map(|(&a, &d)| (a as f64 + d) as f32).collect() };
        // Sums over 13 rows of terms <= ~3 in f32: a few 1e-6 at most.
        assert_close(&name("dweight (accumulated)"), &got[2], &plus(&acc_w, &dweight), 5e-6);
        assert_close(&name("dbias (accumulated)"), &got[3], &plus(&acc_b, &dbias), 5e-6);
    }
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// LayerNorm of rows of length c (biased variance, as PyTorch).
pub(crate) fn layernorm(x: &[f32], weight: &[f32], bias: &[f32], eps: f64) -> Vec<f64> {
    let c = weight.len();
    let mut out = vec![0.0; x.len()];
    for (r, row) in x.chunks(c).enumerate() {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / c as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / c as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for i in 0..c {
            out[r * c + i] = (row[i] as f64 - mean) * rstd * weight[i] as f64 + bias[i] as f64;
        }
    }
    out
}

/// Mean and rstd of each row of length c (biased variance).
pub(crate) fn row_stats(x: &[f64], c: usize, eps: f64) -> Vec<(f64, f64)> {
    x.chunks(c)
        .map(|row| {
            let mean = row.iter().sum::<f64>() / c as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c as f64;
            (mean, 1.0 / (var + eps).sqrt())
        })
        .collect()
}

/// LayerNorm in f64 (the function the backward below differentiates).
pub(crate) fn layernorm_f64(x: &[f64], weight: &[f64], bias: &[f64], eps: f64) -> Vec<f64> {
    let c = weight.len();
    let stats = row_stats(x, c, eps);
    (0..x.len())
        .map(|i| {
            let (mean, rstd) = stats[i / c];
            (x[i] - mean) * rstd * weight[i % c] + bias[i % c]
        })
        .collect()
}

/// LayerNorm backward: (dx, dweight, dbias) from dout (rows, c) at input x (rows, c).
pub(crate) fn layernorm_backward(dout: &[f64], x: &[f64], weight: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let c = weight.len();
    let stats = row_stats(x, c, eps);
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    for (r, &(mean, rstd)) in stats.iter().enumerate() {
        let row = r * c..(r + 1) * c;
        let xhat: Vec<f64> = x[row.clone()].iter().map(|v| (v - mean) * rstd).collect();
        let g: Vec<f64> = (0..c).map(|i| dout[r * c + i] * weight[i]).collect();
        let mean_g = g.iter().sum::<f64>() / c as f64;
        let mean_gx = g.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / c as f64;
        for i in 0..c {
            dx[r * c + i] = rstd * (g[i] - mean_g - xhat[i] * mean_gx);
            dw[i] += dout[r * c + i] * xhat[i];
            db[i] += dout[r * c + i];
        }
    }
    (dx, dw, db)
}
