//! CPU references for each op: plain loops in f64, written for clarity, not speed.

/// erf by its Maclaurin series (|x| < 4, where f64 keeps ~1e-9) and +-1 beyond.
pub fn erf(x: f64) -> f64 {
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

pub fn gelu_erf(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

pub fn gelu_tanh(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// y (m, n) = x (m, k) . w (n, k)^T + bias.
pub fn linear(x: &[f32], w: &[f32], bias: Option<&[f32]>, m: usize, n: usize, k: usize) -> Vec<f64> {
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

/// LayerNorm of rows of length c (biased variance, as PyTorch).
pub fn layernorm(x: &[f32], weight: &[f32], bias: &[f32], eps: f64) -> Vec<f64> {
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

/// Multi-head attention on a fused qkv (tokens, 3H): context (tokens, H) and probabilities
/// (batch, heads, seq, seq); keys with mask 0 get probability 0.
pub fn attention(qkv: &[f32], mask: &[f32], batch: usize, seq: usize, heads: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
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

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

// ---- Backward references (tests/backward.rs): f64 throughout, checked there by finite differences. ----

/// d/dx of GELU: exact (erf) form Phi(x) + x phi(x), or the tanh form's derivative.
pub fn gelu_grad(x: f64, tanh_form: bool) -> f64 {
    if tanh_form {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        let t = (k * (x + 0.044715 * x * x * x)).tanh();
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x)
    } else {
        let cdf = 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
        cdf + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
    }
}

/// Mean and rstd of each row of length c (biased variance).
pub fn row_stats(x: &[f64], c: usize, eps: f64) -> Vec<(f64, f64)> {
    x.chunks(c)
        .map(|row| {
            let mean = row.iter().sum::<f64>() / c as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c as f64;
            (mean, 1.0 / (var + eps).sqrt())
        })
        .collect()
}

/// LayerNorm in f64 (the function the backward below differentiates).
pub fn layernorm_f64(x: &[f64], weight: &[f64], bias: &[f64], eps: f64) -> Vec<f64> {
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
pub fn layernorm_backward(dout: &[f64], x: &[f64], weight: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
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

/// Softmax of each row of length seq over the keys with mask 1 (others get 0).
pub fn softmax_masked(scores: &[f64], key_mask: &[bool], seq: usize) -> Vec<f64> {
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
pub fn softmax_backward(probs: &[f64], dprobs: &[f64], seq: usize) -> Vec<f64> {
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

/// Cross-entropy per row of logits (rows, v): (losses, lse, correct); a label >= v scores nothing.
pub fn cross_entropy(logits: &[f64], labels: &[u32], v: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
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
pub fn cross_entropy_backward(logits: &[f64], labels: &[u32], v: usize, scale: f64) -> Vec<f64> {
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

/// Embedding table gradient: dtable[ids[t]] += demb[t] for tokens whose id is not `skip`.
pub fn embedding_backward(ids: &[u32], demb: &[f64], rows: usize, c: usize, skip: Option<u32>) -> Vec<f64> {
    let mut d = vec![0.0; rows * c];
    for (t, &id) in ids.iter().enumerate().filter(|(_, &id)| Some(id) != skip) {
        for ch in 0..c {
            d[id as usize * c + ch] += demb[t * c + ch];
        }
    }
    d
}

/// Gather backward: dinp (tokens, c) with dinp[index[i]] = dout[i], 0 elsewhere.
pub fn gather_backward(index: &[u32], dout: &[f64], tokens: usize, c: usize) -> Vec<f64> {
    let mut d = vec![0.0; tokens * c];
    for (i, &t) in index.iter().enumerate() {
        for ch in 0..c {
            d[t as usize * c + ch] += dout[i * c + ch];
        }
    }
    d
}

/// One AdamW step over several tensors with global-norm clipping, in f64; returns the [norm, scale] it used.
/// `google`: BERT's AdamWeightDecay (no bias correction, decay inside the update); else torch.optim.AdamW.
#[allow(clippy::too_many_arguments)]
pub fn adamw_step(
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

/// Question-answering logits (batch * seq, 2) as rows (2, batch, seq): start logits, then end logits;
/// positions at or past `valid` hold -1e30.
pub fn span_rows(pairs: &[f32], batch: usize, seq: usize, valid: usize) -> Vec<f32> {
    let tokens = batch * seq;
    (0..2 * tokens)
        .map(|i| {
            let (column, token) = (i / tokens, i % tokens);
            if token % seq < valid {
                pairs[token * 2 + column]
            } else {
                -1.0e30
            }
        })
        .collect()
}

/// Backward of `span_rows`: the row gradients back in (batch * seq, 2), 0 at masked positions.
pub fn span_rows_backward(drows: &[f32], batch: usize, seq: usize, valid: usize) -> Vec<f32> {
    let tokens = batch * seq;
    (0..2 * tokens)
        .map(|i| {
            let (token, column) = (i / 2, i % 2);
            if token % seq < valid {
                drows[column * tokens + token]
            } else {
                0.0
            }
        })
        .collect()
}

/// Squared errors (x - t)^2 of the first `scored` rows (0 after) and their gradient 2 (x - t) * scale.
pub fn squared_error(values: &[f64], targets: &[f64], scored: usize, scale: f64) -> (Vec<f64>, Vec<f64>) {
    let d = |i: usize| if i < scored { values[i] - targets[i] } else { 0.0 };
    let n = values.len();
    (
        (0..n).map(|i| d(i) * d(i)).collect(),
        (0..n).map(|i| 2.0 * d(i) * scale).collect(),
    )
}
