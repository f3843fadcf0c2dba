//! Matrix products (`ops::matmul`): every form, batching, strides, the epilogue, splitting along k, the linear
//! layer's backward, and the tuning check that excludes a faulty candidate.

use super::read_one;
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Gpu;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::ops::matmul;
use bert_wgpu::ops::matmul::Dims;
use bert_wgpu::ops::matmul::Epilogue;
use bert_wgpu::ops::matmul::Form;
use bert_wgpu::ops::matmul::Operand;
use bert_wgpu::ops::Act;

/// One (m, n) product of (m, k) by (k, n): no batches.
fn plain_dims(m: usize, n: usize, k: usize) -> Dims {
    Dims {
        m,
        n,
        k,
        batch_outer: 1,
        batch_inner: 1,
    }
}

/// The (m, n) product `init` + A . B, row-major, of A (m, k) and B (k, n) given entry by entry: summed in
/// f64, rounded to f32 once.
fn product(
    (m, n, k): (usize, usize, usize),
    init: f32,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
) -> Vec<f32> {
    (0..m * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            init + (0..k).map(|e| a(r, e) as f64 * b(e, c) as f64).sum::<f64>() as f32
        })
        .collect()
}

#[test]
fn linear_with_bias_and_activations_at_ragged_shapes() {
    for gpu in common::gpus_per_kernel() {
        linear_case(&gpu);
    }
}

fn linear_case(gpu: &Gpu) {
    // Shapes that are not multiples of the 64 x 64 tile or of the 8 x 8 invocation block.
    for &(m, n, k) in &[(1, 1, 4), (37, 70, 36), (130, 9, 132), (64, 64, 64)] {
        let x = random(m * k, 1, 1.0);
        let w = random(n * k, 2, 1.0);
        let b = random(n, 3, 1.0);
        let (xt, wt) = (
            gpu.upload(&x, &[m, k], "x").unwrap(),
            gpu.upload(&w, &[n, k], "w").unwrap(),
        );
        let bt = gpu.upload(&b, &[n], "b").unwrap();
        let want = linear(&x, &w, Some(&b), m, n, k);
        for (act, f) in [
            (Act::None, (|v| v) as fn(f64) -> f64),
            (Act::Gelu, super::gelu::gelu_erf),
            (Act::GeluTanh, super::gelu::gelu_tanh),
            (Act::Tanh, f64::tanh),
        ] {
            let y = gpu.zeros(&[m, n], "y").unwrap();
            let mut rec = Recorder::new(gpu);
            matmul::linear(&mut rec, &xt, &wt, Some(&bt), act, &y);
            let got = read_one(rec, &y);
            let want: Vec<f32> = want.iter().map(|&v| f(v) as f32).collect();
            // f32 sums of k products of magnitude <= 1: rounding grows like sqrt(k) * 6e-8 * |terms|.
            assert_close(
                &format!("{} linear {m}x{n}x{k} {act:?}", common::kernel_name(gpu)),
                &got,
                &want,
                2e-5,
            );
        }
    }
}

#[test]
fn batched_strided_products_in_both_forms_and_accumulate() {
    for gpu in common::gpus_per_kernel() {
        batched_case(&gpu);
    }
}

fn batched_case(gpu: &Gpu) {
    // Two outer x three inner matrices, each (m, k) . (n, k)^T, carved out of padded rows.
    let (outer, inner, m, n, k) = (2, 3, 9, 12, 8);
    let rs = inner * k + 4; // padded row stride
    let a = random(outer * m * rs, 4, 1.0);
    let b = random(outer * n * rs, 5, 1.0);
    let at = gpu.upload(&a, &[a.len()], "a").unwrap();
    let bt = gpu.upload(&b, &[b.len()], "b").unwrap();
    let y = gpu
        .upload(&vec![1.0; outer * inner * m * n], &[outer * inner * m * n], "y")
        .unwrap();
    let op_a = Operand {
        buf: &at.buf,
        off: 4,
        rs,
        so: m * rs,
        si: k,
        zero_tail: false,
    };
    let op_b = Operand {
        buf: &bt.buf,
        off: 4,
        rs,
        so: n * rs,
        si: k,
        zero_tail: false,
    };
    let op_y = Operand {
        buf: &y.buf,
        off: 0,
        rs: n,
        so: inner * m * n,
        si: m * n,
        zero_tail: false,
    };
    let dims = Dims {
        m,
        n,
        k,
        batch_outer: outer,
        batch_inner: inner,
    };
    let mut rec = Recorder::new(gpu);
    let epi = Epilogue {
        alpha: 0.5,
        accumulate: true,
        ..Default::default()
    };
    matmul::forward(&mut rec, Form::Nt, dims, op_a, op_b, op_y, epi);
    let got = read_one(rec, &y);
    let mut want = vec![0.0f32; got.len()];
    for o in 0..outer {
        for i in 0..inner {
            for r in 0..m {
                for c in 0..n {
                    let s: f64 = (0..k)
                        .map(|e| {
                            a[4 + o * m * rs + i * k + r * rs + e] as f64
                                * b[4 + o * n * rs + i * k + c * rs + e] as f64
                        })
                        .sum();
                    want[((o * inner + i) * m + r) * n + c] = (1.0 + 0.5 * s) as f32;
                }
            }
        }
    }
    assert_close(
        &format!("{} batched NT, accumulate", common::kernel_name(gpu)),
        &got,
        &want,
        1e-5,
    );

    // NN form: y (m, n) = a (m, k) . b (k, n).
    let (m, n, k) = (19, 20, 28);
    let a = random(m * k, 6, 1.0);
    let b = random(k * n, 7, 1.0);
    let (at, bt) = (
        gpu.upload(&a, &[m, k], "a").unwrap(),
        gpu.upload(&b, &[k, n], "b").unwrap(),
    );
    let y = gpu.zeros(&[m, n], "y").unwrap();
    let mut rec = Recorder::new(gpu);
    matmul::forward(
        &mut rec,
        Form::Nn,
        plain_dims(m, n, k),
        Operand::matrix(&at, k),
        Operand::matrix(&bt, n),
        Operand::matrix(&y, n),
        Epilogue::default(),
    );
    let got = read_one(rec, &y);
    let want = product((m, n, k), 0.0, |r, e| a[r * k + e], |e, c| b[e * n + c]);
    assert_close("NN", &got, &want, 1e-5);
}

#[test]
fn products_read_a_four_at_a_time_past_an_odd_length() {
    for gpu in common::gpus_per_kernel() {
        let v = common::kernel_name(&gpu);
        // A (rows, 35) stored in rows of 36: NN (k = 35) may read it as vec4 when the 36th column is zero,
        // as the MLM head's padded logits are in dX = dlogits . decoder.
        let (m, n, k, rs) = (13, 20, 35, 36);
        let a: Vec<f32> = random(m * rs, 40, 1.0)
            .chunks(rs)
            .flat_map(|row| row[..k].iter().copied().chain([0.0]))
            .collect();
        let b = random(k * n, 41, 1.0);
        let (at, bt) = (
            gpu.upload(&a, &[m, rs], "a").unwrap(),
            gpu.upload(&b, &[k, n], "b").unwrap(),
        );
        let y = gpu.zeros(&[m, n], "y").unwrap();
        let op_a = Operand {
            zero_tail: true,
            ..Operand::matrix(&at, rs)
        };
        let dims = plain_dims(m, n, k);
        assert_eq!(matmul::entry_for(Form::Nn, &dims, &op_a).name(), "matmul_nn_a4");
        let mut rec = Recorder::new(&gpu);
        let (op_b, op_y) = (Operand::matrix(&bt, n), Operand::matrix(&y, n));
        matmul::forward(&mut rec, Form::Nn, dims, op_a, op_b, op_y, Epilogue::default());
        let want = product((m, n, k), 0.0, |r, e| a[r * rs + e], |e, c| b[e * n + c]);
        assert_close(
            &format!("{v} NN, k = 35 over a zero tail"),
            &read_one(rec, &y),
            &want,
            1e-5,
        );

        // TN with m = 37 (dW of an odd vocabulary) over rows of 40 whose tail holds other values: the
        // vec4 reads past m feed only rows of Y that are not stored.
        let (m, n, k, rs) = (37, 12, 9, 40);
        let a = random(k * rs, 42, 1.0);
        let b = random(k * n, 43, 1.0);
        let (at, bt) = (
            gpu.upload(&a, &[k, rs], "a").unwrap(),
            gpu.upload(&b, &[k, n], "b").unwrap(),
        );
        let y = gpu.upload(&vec![0.5; m * n], &[m, n], "y").unwrap();
        let dims = Dims { m, n, k, ..dims };
        let op_a = Operand::matrix(&at, rs);
        assert_eq!(matmul::entry_for(Form::Tn, &dims, &op_a).name(), "matmul_tn_a4");
        let mut rec = Recorder::new(&gpu);
        let (op_b, op_y) = (Operand::matrix(&bt, n), Operand::matrix(&y, n));
        let epi = Epilogue {
            accumulate: true,
            ..Default::default()
        };
        matmul::forward(&mut rec, Form::Tn, dims, op_a, op_b, op_y, epi);
        let want = product((m, n, k), 0.5, |r, e| a[e * rs + r], |e, c| b[e * n + c]);
        assert_close(
            &format!("{v} TN, m = 37 in rows of 40"),
            &read_one(rec, &y),
            &want,
            1e-5,
        );
    }
}

#[test]
fn a_long_k_is_split_into_chunks_and_summed() {
    for gpu in common::gpus_per_kernel() {
        // dX of an MLM head: k = 8 chunks + 6 over a zero tail (rows of 8200), small Y, accumulated onto
        // 0.5: seven full chunks go through the partial products, the last 1030 columns straight into Y.
        let (m, n, k, rs) = (5, 12, 8 * matmul::SPLIT_K_CHUNK + 6, 8 * matmul::SPLIT_K_CHUNK + 8);
        let a: Vec<f32> = random(m * rs, 44, 1.0)
            .chunks(rs)
            .flat_map(|row| row[..k].iter().copied().chain([0.0, 0.0]))
            .collect();
        let b = random(k * n, 45, 1.0);
        let (at, bt) = (
            gpu.upload(&a, &[m, rs], "a").unwrap(),
            gpu.upload(&b, &[k, n], "b").unwrap(),
        );
        let y = gpu.upload(&vec![0.5; m * n], &[m, n], "y").unwrap();
        let dims = plain_dims(m, n, k);
        let op_a = Operand {
            zero_tail: true,
            ..Operand::matrix(&at, rs)
        };
        let (op_b, op_y) = (Operand::matrix(&bt, n), Operand::matrix(&y, n));
        let epi = Epilogue {
            accumulate: true,
            ..Default::default()
        };
        assert!(matmul::splits_along_k(Form::Nn, &dims, &op_y, &epi));
        let mut rec = Recorder::new(&gpu);
        matmul::forward(&mut rec, Form::Nn, dims, op_a, op_b, op_y, epi);
        let want = product((m, n, k), 0.5, |r, e| a[r * rs + e], |e, c| b[e * n + c]);
        // Sums of 8198 products of values in [-1, 1]: f32 rounding grows with k.
        let v = common::kernel_name(&gpu);
        assert_close(&format!("{v} NN split along k"), &read_one(rec, &y), &want, 2e-4);
    }
}

#[test]
fn linear_backward_gives_input_weight_and_bias_gradients() {
    for gpu in common::gpus_per_kernel() {
        // Odd sizes on purpose: 2 output features (the NSP head), rows not a multiple of 8, and 37 outputs
        // with dy stored in rows of 40 ending in zeros (the MLM head's padded logits).
        for &(m, n, k, pad) in &[(13, 2, 8, 0), (70, 36, 12, 0), (21, 37, 12, 3)] {
            let x = random(m * k, 20, 1.0);
            let w = random(n * k, 21, 1.0);
            let dy = random(m * n, 22, 1.0);
            let dy_stored: Vec<f32> = dy
                .chunks(n)
                .flat_map(|row| row.iter().copied().chain(std::iter::repeat_n(0.0, pad)))
                .collect();
            let up = |v: &[f32], shape: &[usize]| gpu.upload(v, shape, "t").unwrap();
            let (xt, wt, dyt) = (up(&x, &[m, k]), up(&w, &[n, k]), up(&dy_stored, &[m, n + pad]));
            let dx = gpu.zeros(&[m, k], "dx").unwrap();
            let dw = up(&vec![0.5; n * k], &[n, k]); // accumulates onto 0.5
            let db = up(&vec![0.25; n], &[n]);
            let mut rec = Recorder::new(&gpu);
            matmul::linear_backward(&mut rec, &xt, &wt, &dyt, Some(&dx), false, &dw, Some(&db));
            let got = read_tensors(rec, &[&dx, &dw, &db]);
            // dx = dy . W, dW = 0.5 + dy^T . x.
            let want_dx = product((m, k, n), 0.0, |r, j| dy[r * n + j], |j, c| w[j * k + c]);
            let want_dw = product((n, k, m), 0.5, |o, r| dy[r * n + o], |r, c| x[r * k + c]);
            let want_db: Vec<f32> = (0..n)
                .map(|j| 0.25 + (0..m).map(|r| dy[r * n + j] as f64).sum::<f64>() as f32)
                .collect();
            let v = common::kernel_name(&gpu);
            assert_close(&format!("{v} dx {m}x{n}x{k}"), &got[0], &want_dx, 1e-5);
            assert_close(&format!("{v} dweight {m}x{n}x{k}"), &got[1], &want_dw, 2e-5);
            assert_close(&format!("{v} dbias {m}x{n}x{k}"), &got[2], &want_db, 1e-5);
        }
    }
}

#[test]
fn every_candidate_passes_the_check_and_a_faulty_one_is_excluded_by_tuning() {
    use bert_wgpu::gpu::matmul_gen::{ShapeClass, PORTABLE};
    use bert_wgpu::ops::tune;
    let Some(gpu) = common::gpu() else { return };
    let candidates = gpu.candidates();
    let verdicts = pollster::block_on(tune::check(&gpu, &candidates)).unwrap();
    for (k, verdict) in candidates.iter().zip(verdicts) {
        assert_eq!(verdict, None, "{} differs from the portable kernel", k.name);
    }
    // A deliberately wrong copy of the fastest-looking design next to the real candidates: tuning reports
    // it excluded, with the entry point and the value that differ, and never chooses it.
    let faulty = gpu.matmul.borrow().default.faulty();
    let shapes = tune::bert_shapes(32, 64, 2, 50, 2, 16, 4, true);
    let mut calls = 0;
    let report = pollster::block_on(tune::tune(
        &gpu,
        &[PORTABLE, faulty],
        &shapes,
        1e6,
        1,
        &mut |_, _, _| calls += 1,
    ))
    .unwrap();
    assert!(calls > 0, "tuning reports progress");
    assert_eq!(report.excluded.len(), 1);
    assert_eq!(report.excluded[0].0, faulty);
    assert!(
        report.excluded[0].1.contains("portable kernel gives"),
        "{}",
        report.excluded[0].1
    );
    let plan = gpu.matmul.borrow();
    for s in &shapes {
        assert_eq!(plan.kernel(&s.class()), PORTABLE, "{}", s.label);
    }
    // The cache stores classes by key; every key reads back as its class.
    for c in plan.chosen.keys() {
        assert_eq!(ShapeClass::parse(&c.key()), Some(*c));
    }
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// y (m, n) = x (m, k) . w (n, k)^T + bias.
pub(crate) fn linear(x: &[f32], w: &[f32], bias: Option<&[f32]>, m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut y = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = bias.map_or(0.0, |b| b[j] as f64);
            for kk in 0..k {
                s += x[i * k + kk] as f64 * w[j * k + kk] as f64;
            }
            y[i * n + j] = s;
        }
    }
    y
}
