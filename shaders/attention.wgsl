// Self-attention: the softmax over keys between the two batched matmuls (scores = Q.K^T / sqrt(d) and
// context = P.V, both in matmul.wgsl). Padding keys (attention_mask = 0) get probability 0, which is what
// adding a large negative number before the softmax gives.

struct SoftmaxParams {
    rows: u32,        // batch * heads * seq (one row per query)
    seq: u32,         // keys per row
    rows_per_seq: u32, // heads * seq: rows that share one attention mask
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> mask: array<f32>;          // (batch, seq): 1 attend, 0 padding
@group(0) @binding(2) var<storage, read_write> scores: array<f32>;  // (batch, heads, seq, seq), in place

@compute @workgroup_size(64)
fn attention_softmax_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if row >= p.rows {
        return;
    }
    let base = row * p.seq;
    let mbase = (row / p.rows_per_seq) * p.seq;
    var mx = -3.4028234e38; // lowest f32 that browsers accept as a literal
    for (var j = 0u; j < p.seq; j++) {
        if mask[mbase + j] != 0.0 {
            mx = max(mx, scores[base + j]);
        }
    }
    var sum = 0.0;
    for (var j = 0u; j < p.seq; j++) {
        var e = 0.0;
        if mask[mbase + j] != 0.0 {
            e = exp(scores[base + j] - mx);
        }
        scores[base + j] = e;
        sum += e;
    }
    let inv = select(0.0, 1.0 / sum, sum > 0.0);
    for (var j = 0u; j < p.seq; j++) {
        scores[base + j] *= inv;
    }
}

// Backward of the softmax (the matmuls' backward is matmul.wgsl's). Shares `p` (rows_per_seq unused).
@group(0) @binding(1) var<storage, read> probs: array<f32>;           // (batch, heads, seq, seq)
@group(0) @binding(2) var<storage, read_write> dprobs: array<f32>;    // (batch, heads, seq, seq), in place

// One invocation per row: dscores = P * (dP - sum_j dP_j P_j), written over dP. Masked keys have P = 0 and
// so get 0. No 1/sqrt(d) here: the scores matmul applies it.
@compute @workgroup_size(64)
fn attention_softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if row >= p.rows {
        return;
    }
    let base = row * p.seq;
    var s = 0.0;
    for (var j = 0u; j < p.seq; j++) {
        s += dprobs[base + j] * probs[base + j];
    }
    for (var j = 0u; j < p.seq; j++) {
        dprobs[base + j] = probs[base + j] * (dprobs[base + j] - s);
    }
}
