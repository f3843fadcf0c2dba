//! Each backward kernel (and cross-entropy, AdamW, dropout) on the GPU against its CPU reference
//! (tests/common/reference.rs), and each CPU reference's analytic backward against central finite
//! differences in f64.

mod common;

use bert_wgpu::gpu::{Gpu, Recorder, Tensor};
use bert_wgpu::ops::adamw::{self, AdamHyper, AdamVariant};
use bert_wgpu::ops::{attention, cross_entropy, dropout, embedding, gather, gelu, layernorm, mse, span, Act};
use bert_wgpu::rng::Rng;
use common::reference as cpu;
use common::{assert_close, random, read_tensors as read};

/// Central-difference step in f64: truncation error ~ h^2 |f'''| ~ 1e-10, rounding ~ 1e-16 / h ~ 1e-11.
const FD_STEP: f64 = 1e-5;
/// Agreement of an analytic derivative with its finite difference, relative to max(1, |derivative|):
/// both error terms above are far below it, while a wrong formula misses by O(1).
const FD_TOL: f64 = 1e-7;
/// Entries probed per finite-difference check.
const FD_PROBES: usize = 12;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn up(gpu: &Gpu, v: &[f32], shape: &[usize]) -> Tensor {
    gpu.upload(v, shape, "test").unwrap()
}

/// Checks `grad` = d f / d x at FD_PROBES random entries of x by central differences.
fn fd_check(name: &str, f: impl Fn(&[f64]) -> f64, x: &[f64], grad: &[f64], seed: u64) {
    assert_eq!(x.len(), grad.len(), "{name}: gradient length");
    let mut rng = Rng::new(seed);
    for _ in 0..FD_PROBES {
        let i = (rng.next_u64() % x.len() as u64) as usize;
        let mut xp = x.to_vec();
        xp[i] += FD_STEP;
        let mut xm = x.to_vec();
        xm[i] -= FD_STEP;
        let fd = (f(&xp) - f(&xm)) / (2.0 * FD_STEP);
        let err = (fd - grad[i]).abs() / grad[i].abs().max(1.0);
        assert!(
            err <= FD_TOL,
            "{name}: entry {i}: analytic {} vs finite difference {fd} (error {err:e})",
            grad[i]
        );
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

// ---- GELU ------------------------------------------------------------------------------------------------

#[test]
fn gelu_backward_finite_differences() {
    let x = f64s(&random(50, 20, 4.0));
    let dout = f64s(&random(50, 21, 1.0));
    for tanh_form in [false, true] {
        let f = |x: &[f64]| {
            let act = |v| if tanh_form { cpu::gelu_tanh(v) } else { cpu::gelu_erf(v) };
            x.iter().zip(&dout).map(|(&v, d)| d * act(v)).sum::<f64>()
        };
        let grad: Vec<f64> = x
            .iter()
            .zip(&dout)
            .map(|(&v, d)| d * cpu::gelu_grad(v, tanh_form))
            .collect();
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
        Act::Gelu => cpu::gelu_grad(v, false),
        Act::GeluTanh => cpu::gelu_grad(v, true),
        _ => 1.0 - v.tanh().powi(2),
    };
    for act in [Act::Gelu, Act::GeluTanh, Act::Tanh] {
        let dinp = gpu.zeros(&[x.len()], "dinp").unwrap();
        let mut rec = Recorder::new(&gpu);
        gelu::backward(&mut rec, &xt, &dt, &dinp, act);
        let got = read(rec, &[&dinp]).remove(0);
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

// ---- LayerNorm -------------------------------------------------------------------------------------------

#[test]
fn layernorm_backward_finite_differences() {
    let (rows, c, eps) = (3, 8, 1e-5);
    let x = f64s(&random(rows * c, 30, 3.0));
    let w = f64s(&random(c, 31, 1.0));
    let b = f64s(&random(c, 32, 1.0));
    let dout = f64s(&random(rows * c, 33, 1.0));
    let (dx, dw, db) = cpu::layernorm_backward(&dout, &x, &w, eps);
    fd_check(
        "layernorm dx",
        |x| dot(&dout, &cpu::layernorm_f64(x, &w, &b, eps)),
        &x,
        &dx,
        34,
    );
    fd_check(
        "layernorm dweight",
        |w| dot(&dout, &cpu::layernorm_f64(&x, w, &b, eps)),
        &w,
        &dw,
        35,
    );
    fd_check(
        "layernorm dbias",
        |b| dot(&dout, &cpu::layernorm_f64(&x, &w, b, eps)),
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
        let got = read(rec, &[&dinp, &dres, &dw, &db]);

        let x: Vec<f64> = (0..rows * c)
            .map(|i| inp[i] as f64 + if residual { res[i] as f64 } else { 0.0 })
            .collect();
        let (dx, dweight, dbias) = cpu::layernorm_backward(&f64s(&dout), &x, &f64s(&w), eps);
        let name = |t: &str| format!("layernorm {t} residual={residual}");
        // dx ~ rstd * |dout * w| <= ~1 here; f32 row sums over 40 channels and the f32 mean/rstd of the
        // forward leave a few 1e-7.
        assert_close(&name("dinp"), &got[0], &cpu::to_f32(&dx), 2e-6);
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

// ---- Attention softmax -----------------------------------------------------------------------------------

#[test]
fn softmax_backward_finite_differences() {
    let seq = 6;
    let scores = f64s(&random(2 * seq, 50, 3.0));
    let dp = f64s(&random(2 * seq, 51, 1.0));
    let mask = [true, true, false, true, true, false];
    let probs = cpu::softmax_masked(&scores, &mask, seq);
    let grad = cpu::softmax_backward(&probs, &dp, seq);
    fd_check(
        "softmax backward",
        |s| dot(&dp, &cpu::softmax_masked(s, &mask, seq)),
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
        probs.extend(cpu::to_f32(&cpu::softmax_masked(part, &mask, seq)));
    }
    let dp = random(rows * seq, 54, 1.0);
    let probs_t = up(&gpu, &probs, &[batch, heads, seq, seq]);
    let dp_t = up(&gpu, &dp, &[batch, heads, seq, seq]);
    let mut rec = Recorder::new(&gpu);
    attention::softmax_backward(&mut rec, rows, seq, &probs_t, &dp_t);
    let got = read(rec, &[&dp_t]).remove(0);
    let want = cpu::softmax_backward(&f64s(&probs), &f64s(&dp), seq);
    // Terms P * dP <= 1 summed over 12 keys in f32.
    assert_close("softmax backward", &got, &cpu::to_f32(&want), 1e-6);
    for (i, (&g, &p)) in got.iter().zip(&probs).enumerate() {
        assert!(p != 0.0 || g == 0.0, "masked key {i} got gradient {g}");
    }
}

// ---- Embedding and gather --------------------------------------------------------------------------------

#[test]
fn embedding_and_gather_backward_finite_differences() {
    // Both are linear maps, so this checks the index bookkeeping of the references.
    let (rows, c) = (5, 4);
    let ids = [3u32, 1, 3, 0, 4, 3];
    let table = f64s(&random(rows * c, 60, 1.0));
    let demb = f64s(&random(ids.len() * c, 61, 1.0));
    let lookup = |t: &[f64]| -> f64 {
        (0..ids.len() * c)
            .map(|i| demb[i] * t[ids[i / c] as usize * c + i % c])
            .sum()
    };
    let grad = cpu::embedding_backward(&ids, &demb, rows, c, None);
    fd_check("embedding backward", lookup, &table, &grad, 62);

    let index = [4u32, 0, 2];
    let inp = f64s(&random(6 * c, 63, 1.0));
    let dout = f64s(&random(index.len() * c, 64, 1.0));
    let gather = |x: &[f64]| -> f64 {
        (0..index.len() * c)
            .map(|i| dout[i] * x[index[i / c] as usize * c + i % c])
            .sum()
    };
    fd_check(
        "gather backward",
        gather,
        &inp,
        &cpu::gather_backward(&index, &dout, 6, c),
        65,
    );
}

#[test]
fn embedding_backward_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    let (vocab, positions, types, c, max_tokens) = (11, 7, 2, 8, 16);
    let word_acc = random(vocab * c, 66, 1.0); // the gradients accumulate onto these
    let pos_acc = random(positions * c, 67, 1.0);
    let type_acc = random(types * c, 68, 1.0);
    let indices: Vec<embedding::GradIndex> = (0..3)
        .map(|_| embedding::GradIndex::alloc(&gpu, max_tokens).unwrap())
        .collect();
    // Two batches through the same (preallocated) indices: the second is shorter, so stale entries of the
    // first must not leak into it.
    let batches: [(&[u32], &[u32], &[u32]); 2] = [
        (
            &[3, 10, 0, 5, 5, 0, 3, 3, 9],
            &[0, 1, 2, 3, 4, 5, 6, 0, 1],
            &[0, 0, 1, 1, 1, 0, 0, 1, 1],
        ),
        (&[7, 0, 7, 2, 7], &[0, 1, 2, 3, 4], &[1, 1, 1, 1, 1]),
    ];
    for (batch, (ids, pids, tids)) in batches.iter().enumerate() {
        let tokens = ids.len();
        let demb = random(tokens * c, 69 + batch as u64, 1.0);
        let demb_t = up(&gpu, &demb, &[tokens, c]);
        let word = up(&gpu, &word_acc, &[vocab, c]);
        let pos = up(&gpu, &pos_acc, &[positions, c]);
        let ty = up(&gpu, &type_acc, &[types, c]);
        let pad = Some(0); // the word table skips [PAD] (padding_idx), as Hugging Face's BERT
        indices[0].write_skipping(&gpu.queue, ids, pad).unwrap();
        indices[1].write(&gpu.queue, pids).unwrap();
        indices[2].write(&gpu.queue, tids).unwrap();
        let mut rec = Recorder::new(&gpu);
        for (index, table) in indices.iter().zip([&word, &pos, &ty]) {
            embedding::backward(&mut rec, index, &demb_t, table);
        }
        let got = read(rec, &[&word, &pos, &ty]);
        let d = f64s(&demb);
        for (k, (name, acc, id_list, rows, skip)) in [
            ("word", &word_acc, ids, vocab, pad),
            ("position", &pos_acc, pids, positions, None),
            ("token type", &type_acc, tids, types, None),
        ]
        .into_iter()
        .enumerate()
        {
            let want: Vec<f32> = cpu::embedding_backward(id_list, &d, rows, c, skip)
                .iter()
                .zip(acc.iter())
                .map(|(&g, &a)| (a as f64 + g) as f32)
                .collect();
            // At most 5 f32 additions of values <= 1 per entry.
            assert_close(&format!("d{name} batch {batch}"), &got[k], &want, 1e-6);
        }
    }
    let too_many = vec![0u32; max_tokens + 1];
    assert!(
        indices[0].write(&gpu.queue, &too_many).is_err(),
        "more tokens than allocated is an error"
    );
}

#[test]
fn gather_backward_writes_or_accumulates() {
    let Some(gpu) = common::gpu() else { return };
    let (tokens, c) = (6, 8);
    let index = [4u32, 1, 5];
    let inverse = gather::inverse_index(&index, tokens);
    assert_eq!(inverse, vec![-1, 1, -1, -1, 0, 2]);
    let inverse_buf = gpu.upload_u32(bytemuck::cast_slice(&inverse), "inverse").unwrap();
    let dout = random(index.len() * c, 70, 1.0);
    let before = random(tokens * c, 71, 1.0);
    let dout_t = up(&gpu, &dout, &[index.len(), c]);
    let scattered = cpu::gather_backward(&index, &f64s(&dout), tokens, c);
    for accumulate in [false, true] {
        let dinp = up(&gpu, &before, &[tokens, c]);
        let mut rec = Recorder::new(&gpu);
        gather::backward(&mut rec, &inverse_buf, &dout_t, &dinp, accumulate);
        let got = read(rec, &[&dinp]).remove(0);
        let want: Vec<f32> = scattered
            .iter()
            .zip(&before)
            .map(|(&g, &b)| if accumulate { (b as f64 + g) as f32 } else { g as f32 })
            .collect();
        // A copy is exact; accumulating is one f32 addition.
        let tol = if accumulate { 1e-7 } else { 0.0 };
        assert_close(&format!("gather backward accumulate={accumulate}"), &got, &want, tol);
    }
}

// ---- Cross-entropy ---------------------------------------------------------------------------------------

/// -100 as u32: Hugging Face's ignore index, a row that is not scored.
const IGNORE: u32 = -100i32 as u32;

#[test]
fn cross_entropy_backward_finite_differences() {
    let v = 7;
    let logits = f64s(&random(3 * v, 80, 4.0));
    let labels = [2u32, IGNORE, 6];
    let scale = 0.5; // mean over the 2 scored rows
    let grad = cpu::cross_entropy_backward(&logits, &labels, v, scale);
    let loss = |x: &[f64]| cpu::cross_entropy(x, &labels, v).0.iter().sum::<f64>() * scale;
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
        let mut got = read(rec, &[&losses, &lse, &correct, &logits_t]);
        let tails: Vec<f32> = got[3].chunks(stride).flat_map(|row| row[v..].to_vec()).collect();
        assert!(tails.iter().all(|&t| t == 99.0), "the padding past v is left as it was");
        got[3] = got[3].chunks(stride).flat_map(|row| row[..v].to_vec()).collect();

        let x = f64s(&logits);
        let (want_losses, want_lse, want_correct) = cpu::cross_entropy(&x, &labels, v);
        let name = |t: &str| format!("cross-entropy {t} ({rows} x {v})");
        // lse ~ 4 + ln(v): each invocation sums up to 477 exps in f32, relative error ~ 477 * 6e-8 worst
        // case; the loss subtracts one logit.
        assert_close(&name("lse"), &got[1], &cpu::to_f32(&want_lse), 2e-5);
        assert_close(&name("losses"), &got[0], &cpu::to_f32(&want_losses), 2e-5);
        assert_close(&name("correct"), &got[2], &cpu::to_f32(&want_correct), 0.0);
        let want_d = cpu::cross_entropy_backward(&x, &labels, v, scale as f64);
        // Probabilities <= 1 from exp(x - lse): an lse error of 2e-5 is a relative error of 2e-5, times scale.
        assert_close(&name("dlogits"), &got[3], &cpu::to_f32(&want_d), 2e-5 * scale);
        if rows == 7 {
            assert_eq!(&got[2][3..5], &[0.0, 1.0], "first argmax on a tie; argmax == label");
            assert!(
                got[3][2 * v..3 * v].iter().all(|&g| g == 0.0),
                "ignored row gets no gradient"
            );
        }
    }
}

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
        let got = read(rec, &all);

        let g64: Vec<Vec<f64>> = g.iter().map(|x| f64s(x)).collect();
        let hyper = (lr as f64, beta1 as f64, beta2 as f64, eps as f64, wd as f64);
        let [norm, scale] = cpu::adamw_step(
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
            assert_close(&name("param"), &got[base], &cpu::to_f32(&cpu_p[k]), 2e-6);
            // |m| <= 0.3 and v <= 0.003 (gradients <= 1): a few f32 roundings of each, ~3e-8 and ~3e-10.
            assert_close(&name("m"), &got[base + 1], &cpu::to_f32(&cpu_m[k]), 2e-7);
            assert_close(&name("v"), &got[base + 2], &cpu::to_f32(&cpu_v[k]), 5e-9);
            assert!(got[base + 3].iter().all(|&x| x == 0.0), "{}", name("grad is zeroed"));
        }
    }
}

// ---- Dropout ---------------------------------------------------------------------------------------------

fn dropout_run(gpu: &Gpu, inp: &Tensor, p: f32, seed: u32, stream: u32) -> Vec<f32> {
    let out = gpu.zeros(&inp.shape, "out").unwrap();
    let mut rec = Recorder::new(gpu);
    dropout::forward(&mut rec, inp, &out, p, seed, stream);
    read(rec, &[&out]).remove(0)
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
        let got = read(rec, &[&dinp]).remove(0);
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
    let got = read(rec, &[&rows_t, &dpairs_t]);
    assert_close("span rows", &got[0], &cpu::span_rows(&pairs, batch, seq, valid), 0.0);
    let want = cpu::span_rows_backward(&drows, batch, seq, valid);
    assert_close("span rows backward", &got[1], &want, 0.0);
    // Every position is masked or copied exactly once: the two maps are transposes of each other.
    assert_eq!(
        cpu::span_rows_backward(&cpu::span_rows(&pairs, batch, seq, seq), batch, seq, seq),
        pairs
    );
}

#[test]
fn squared_error_backward_finite_differences() {
    let values = f64s(&random(5, 92, 2.0));
    let targets = f64s(&random(5, 93, 2.0));
    let scale = 1.0 / 4.0; // mean over the 4 scored rows
    let (_, grad) = cpu::squared_error(&values, &targets, 4, scale);
    let loss = |x: &[f64]| cpu::squared_error(x, &targets, 4, scale).0.iter().sum::<f64>() * scale;
    fd_check("squared error backward", loss, &values, &grad, 94);
}

#[test]
fn squared_error_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    let (rows, scored) = (70, 67); // more than one workgroup; padding rows score nothing
    let values = random(rows, 95, 2.0);
    let targets = random(rows, 96, 2.0);
    let scale = 1.0 / scored as f32;
    let values_t = up(&gpu, &values, &[rows, 1]);
    let targets_t = up(&gpu, &targets, &[rows]);
    let losses = gpu.zeros(&[rows], "losses").unwrap();
    let mut rec = Recorder::new(&gpu);
    mse::forward(&mut rec, &values_t, &targets_t, &losses, scored);
    mse::backward(&mut rec, &values_t, &targets_t, scored, scale);
    let got = read(rec, &[&losses, &values_t]);
    let (want_losses, want_grad) = cpu::squared_error(&f64s(&values), &f64s(&targets), scored, scale as f64);
    assert_close("squared errors", &got[0], &cpu::to_f32(&want_losses), 1e-6);
    assert_close("squared error gradient", &got[1], &cpu::to_f32(&want_grad), 1e-7);
}
