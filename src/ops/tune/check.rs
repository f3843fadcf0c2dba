//! Each candidate against the portable kernel on random inputs of every entry point.

use crate::error::Result;
use crate::gpu::matmul_gen::{MatmulKernel, PORTABLE};
use crate::gpu::{Gpu, Recorder, Tensor};
use crate::ops::matmul::{self, Dims, Epilogue, Form, Operand};
use crate::ops::Act;
use crate::rng::Rng;

/// `n` uniform values in [-1, 1).
pub(super) fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) as f32).collect()
}

/// Runs one candidate on one shape with explicit operands and returns Y.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_case(
    gpu: &Gpu,
    k: MatmulKernel,
    form: Form,
    d: Dims,
    a: Operand<'_>,
    b: Operand<'_>,
    y0: &[f32],
    bias: &Tensor,
) -> Result<Vec<f32>> {
    let y = gpu.upload(y0, &[y0.len()], "tune y")?;
    let mut rec = Recorder::new(gpu);
    let epi = Epilogue {
        alpha: 0.5,
        bias: Some(&bias.buf),
        act: Act::Gelu,
        accumulate: true,
    };
    let yo = Operand {
        buf: &y.buf,
        off: 4,
        rs: d.n + 4,
        so: 0,
        si: d.m * (d.n + 4),
        zero_tail: false,
    };
    matmul::forward_with(&mut rec, k, form, d, a, b, yo, epi);
    Ok(rec.submit_and_read(&[(&y.buf, 0, y0.len())]).await?.remove(0))
}

/// Compares `k` with the portable kernel on every entry point, at ragged sizes over two matrices with
/// padded strides, bias, activation, scaling and accumulation. Returns why it is wrong, if it is.
/// Each of `kernels` gets `None` when it agrees, else why it is wrong; the portable kernel's result of each
/// case is computed once for all of them.
pub async fn check(gpu: &Gpu, kernels: &[MatmulKernel]) -> Result<Vec<Option<String>>> {
    let mut verdicts: Vec<Option<String>> = vec![None; kernels.len()];
    let mut rng = Rng::new(7);
    // (form, m, n, k, A row stride padding, A aligned to 4 with a zero tail): an aligned A picks the
    // A-by-vec4 entry (NN past an odd k only over a zero tail), an unaligned one the scalar entry.
    let cases = [
        (Form::Nt, 37, 70, 36, 4, true),
        (Form::Nt, 130, 136, 132, 0, true),
        (Form::Nn, 37, 68, 35, 1, false),
        (Form::Nn, 37, 68, 35, 1, true),
        (Form::Nn, 130, 136, 132, 0, true),
        (Form::Tn, 37, 68, 35, 1, false),
        (Form::Tn, 37, 68, 35, 3, true),
        (Form::Tn, 132, 136, 130, 0, true),
    ];
    for (form, m, n, kk, pad, aligned) in cases {
        let batch = 2;
        let d = Dims {
            m,
            n,
            k: kk,
            batch_outer: 1,
            batch_inner: batch,
        };
        // A: Nt/Nn (m, k) rows, Tn (k, m) rows; B: Nt (n, k), Nn/Tn (k, n); each row padded.
        let (a_rows, a_cols) = if form == Form::Tn { (kk, m) } else { (m, kk) };
        let (b_rows, b_cols) = if form == Form::Nt { (n, kk) } else { (kk, n) };
        let a_rs = a_cols + pad;
        let b_rs = b_cols.next_multiple_of(4) + 4;
        let mut a_host = random(&mut rng, 4 + batch * a_rows * a_rs);
        let a_off = if aligned { 4 } else { 1 };
        if aligned {
            // Zeros from each row's end up to the next multiple of 4.
            for r in 0..batch * a_rows {
                let row = a_off + r * a_rs;
                a_host[row + a_cols..row + a_cols.next_multiple_of(4)].fill(0.0);
            }
        }
        let b_host = random(&mut rng, 4 + batch * b_rows * b_rs);
        let at = gpu.upload(&a_host, &[a_host.len()], "tune a")?;
        let bt = gpu.upload(&b_host, &[b_host.len()], "tune b")?;
        let bias = gpu.upload(&random(&mut rng, n), &[n], "tune bias")?;
        let y0 = random(&mut rng, 4 + batch * m * (n + 4));
        let a = Operand {
            buf: &at.buf,
            off: a_off,
            rs: a_rs,
            so: 0,
            si: a_rows * a_rs,
            zero_tail: aligned,
        };
        let b = Operand {
            buf: &bt.buf,
            off: 4,
            rs: b_rs,
            so: 0,
            si: b_rows * b_rs,
            zero_tail: false,
        };
        let want = run_case(gpu, PORTABLE, form, d, a, b, &y0, &bias).await?;
        let entry = matmul::entry_for(form, &d, &a);
        for (&k, verdict) in kernels.iter().zip(verdicts.iter_mut()) {
            if verdict.is_some() {
                continue; // already excluded by an earlier case
            }
            let got = run_case(gpu, k, form, d, a, b, &y0, &bias).await?;
            let wrong = got
                .iter()
                .zip(&want)
                .enumerate()
                .find(|(_, (g, w))| !((*g - *w).abs() <= 1e-4 * (1.0 + w.abs())));
            if let Some((i, (g, w))) = wrong {
                *verdict = Some(format!(
                    "{} at {m}x{n}x{kk}: Y[{i}] = {g}, the portable kernel gives {w}",
                    entry.name()
                ));
            }
        }
    }
    Ok(verdicts)
}
