//! Each forward op on the GPU against its CPU reference (tests/common/reference.rs).

mod common;

use bert_wgpu::gpu::{Gpu, Recorder, Tensor};
use bert_wgpu::ops::matmul::{self, Dims, Epilogue, Form, Operand};
use bert_wgpu::ops::{attention, embedding, gather, gelu, layernorm, Act};
use common::reference as cpu;
use common::{assert_close, random, read_tensors};

fn read(rec: Recorder, t: &Tensor) -> Vec<f32> {
    read_tensors(rec, &[t]).remove(0)
}

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
        let want = cpu::linear(&x, &w, Some(&b), m, n, k);
        for (act, f) in [
            (Act::None, (|v| v) as fn(f64) -> f64),
            (Act::Gelu, cpu::gelu_erf),
            (Act::GeluTanh, cpu::gelu_tanh),
            (Act::Tanh, f64::tanh),
        ] {
            let y = gpu.zeros(&[m, n], "y").unwrap();
            let mut rec = Recorder::new(&gpu);
            matmul::linear(&mut rec, &xt, &wt, Some(&bt), act, &y);
            let got = read(rec, &y);
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
    let mut rec = Recorder::new(&gpu);
    let epi = Epilogue {
        alpha: 0.5,
        accumulate: true,
        ..Default::default()
    };
    matmul::forward(&mut rec, Form::Nt, dims, op_a, op_b, op_y, epi);
    let got = read(rec, &y);
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
    let mut rec = Recorder::new(&gpu);
    matmul::forward(
        &mut rec,
        Form::Nn,
        plain_dims(m, n, k),
        Operand::matrix(&at, k),
        Operand::matrix(&bt, n),
        Operand::matrix(&y, n),
        Epilogue::default(),
    );
    let got = read(rec, &y);
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
        assert_close(&format!("{v} NN, k = 35 over a zero tail"), &read(rec, &y), &want, 1e-5);

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
        assert_close(&format!("{v} TN, m = 37 in rows of 40"), &read(rec, &y), &want, 1e-5);
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
        assert_close(&format!("{v} NN split along k"), &read(rec, &y), &want, 2e-4);
    }
}

#[test]
fn gelu_matches_erf_and_tanh_forms() {
    let Some(gpu) = common::gpu() else { return };
    let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 50.0).collect(); // [-10, 10)
    let xt = gpu.upload(&x, &[x.len()], "x").unwrap();
    for (act, f) in [
        (Act::Gelu, cpu::gelu_erf as fn(f64) -> f64),
        (Act::GeluTanh, cpu::gelu_tanh),
    ] {
        let y = gpu.zeros(&[x.len()], "y").unwrap();
        let mut rec = Recorder::new(&gpu);
        gelu::forward(&mut rec, &xt, &y, act);
        let got = read(rec, &y);
        let want: Vec<f32> = x.iter().map(|&v| f(v as f64) as f32).collect();
        // erf's fit has 1.2e-7 relative error; |x| <= 10 keeps absolute error well below 1e-5.
        assert_close(&format!("{act:?}"), &got, &want, 2e-6);
    }
}

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
        let got = read(rec, &out);
        let input: Vec<f32> = if residual {
            x.iter().zip(&r).map(|(a, b)| a + b).collect()
        } else {
            x.clone()
        };
        let want = cpu::to_f32(&cpu::layernorm(&input, &w, &b, 1e-5));
        assert_close(&format!("layernorm residual={residual}"), &got, &want, 1e-5);
    }
}

#[test]
fn embedding_sum_and_row_gather() {
    let Some(gpu) = common::gpu() else { return };
    let (vocab, positions, types, c) = (11, 7, 2, 8);
    let word = random(vocab * c, 12, 1.0);
    let pos = random(positions * c, 13, 1.0);
    let ty = random(types * c, 14, 1.0);
    let ids = [3u32, 10, 0, 5, 5];
    let pids = [0u32, 1, 2, 6, 3];
    let tids = [0u32, 1, 1, 0, 1];
    let up = |v: &[f32], rows: usize| gpu.upload(v, &[rows, c], "table").unwrap();
    let (wt, pt, tt) = (up(&word, vocab), up(&pos, positions), up(&ty, types));
    let buf = |v: &[u32]| gpu.upload_u32(v, "ids").unwrap();
    let (ib, pb, tb) = (buf(&ids), buf(&pids), buf(&tids));
    let out = gpu.zeros(&[ids.len(), c], "out").unwrap();
    let picked = gpu.zeros(&[2, c], "picked").unwrap();
    let index = buf(&[4, 1]);
    let mut rec = Recorder::new(&gpu);
    let tokens = embedding::TokenIds {
        ids: &ib,
        positions: &pb,
        types: &tb,
    };
    embedding::forward(&mut rec, &tokens, &wt, &pt, &tt, &out);
    gather::forward(&mut rec, &index, &out, &picked);
    let got = read_tensors(rec, &[&out, &picked]);
    let want: Vec<f32> = (0..ids.len() * c)
        .map(|i| {
            let (t, ch) = (i / c, i % c);
            word[ids[t] as usize * c + ch] + pos[pids[t] as usize * c + ch] + ty[tids[t] as usize * c + ch]
        })
        .collect();
    assert_close("embedding", &got[0], &want, 1e-6);
    let want_rows: Vec<f32> = [4usize, 1]
        .iter()
        .flat_map(|&r| want[r * c..(r + 1) * c].to_vec())
        .collect();
    assert_close("gather", &got[1], &want_rows, 0.0);
}

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
    let (want_ctx, want_probs) = cpu::attention(&qkv, &mask, batch, seq, heads, d);
    assert_close("attention probs", &got[1], &cpu::to_f32(&want_probs), 1e-6);
    assert_close("attention context", &got[0], &cpu::to_f32(&want_ctx), 1e-5);
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
        let got = read(rec, &ctx);
        let (want, _) = cpu::attention(&qkv, &mask, batch, seq, heads, d);
        let mut want = cpu::to_f32(&want);
        want[2 * seq * h..].iter_mut().for_each(|v| *v = 0.0);
        assert_close(&format!("fused attention, head_dim {d}"), &got, &want, 1e-5);
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
