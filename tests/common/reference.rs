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
