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
    let row = grid_index(gid, nwg);
    if row >= p.rows { return; }
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
    let row = grid_index(gid, nwg);
    if row >= p.rows { return; }
    let base = row * p.seq;
    var s = 0.0;
    for (var j = 0u; j < p.seq; j++) {
        s += dprobs[base + j] * probs[base + j];
    }
    for (var j = 0u; j < p.seq; j++) {
        dprobs[base + j] = probs[base + j] * (dprobs[base + j] - s);
    }
}

// Fused attention for inference: scores, padding mask, softmax and context in one pass per block of 64
// queries of one (sequence, head), with the online softmax (a running maximum and sum rescale the context
// as keys arrive), so the (seq x seq) probabilities are never stored. Same result as scores -> softmax ->
// P.V above up to rounding: masked keys are skipped, a row with no key left gives a zero context.
struct FusedParams {
    seq: u32,     // keys and queries per sequence (padded to a multiple of 4)
    heads: u32,
    d4: u32,      // head_dim / 4 (head_dim <= 4 * MAX_D4)
    hidden: u32,  // heads * head_dim: row stride of ctx; qkv rows are 3 * hidden
    scale: f32,   // 1 / sqrt(head_dim)
}

const MAX_D4 = 32u;   // head_dim up to 128
const KEYS = 8u;      // keys staged in workgroup memory at a time

@group(0) @binding(0) var<uniform> fp: FusedParams;
@group(0) @binding(2) var<storage, read> qkv4: array<vec4<f32>>;     // (batch * seq, 3 * hidden / 4): Q | K | V
@group(0) @binding(3) var<storage, read_write> ctx: array<f32>;      // (batch * seq, hidden)

var<workgroup> tile_k: array<vec4<f32>, 256>;  // (KEYS, MAX_D4)
var<workgroup> tile_v: array<vec4<f32>, 256>;  // (KEYS, MAX_D4)
var<workgroup> tile_on: array<f32, 8>;         // (KEYS): 1 attend, 0 padding or past the end

// Workgroup (query block, batch * heads); invocation = one query row.
@compute @workgroup_size(64)
fn attention_fused_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let bh = wg.y;
    let b = bh / fp.heads;
    let h = bh % fp.heads;
    let i = wg.x * 64u + lid;                 // this invocation's query
    let row_q = b * fp.seq + min(i, fp.seq - 1u);
    let stride4 = 3u * fp.hidden / 4u;        // qkv row in vec4
    let head4 = h * fp.d4;                    // this head's first vec4 inside Q, K or V
    let hidden4 = fp.hidden / 4u;
    var q: array<vec4<f32>, 32>;
    var acc: array<vec4<f32>, 32>;
    for (var c = 0u; c < fp.d4; c++) {
        q[c] = qkv4[row_q * stride4 + head4 + c] * fp.scale;
    }
    var mx = -3.4028234e38;
    var sum = 0.0;
    for (var j0 = 0u; j0 < fp.seq; j0 += KEYS) {
        // Stage KEYS keys and values of this head (zeros past the end).
        for (var e = lid; e < KEYS * fp.d4; e += 64u) {
            let jj = e / fp.d4;
            let c = e % fp.d4;
            let j = min(j0 + jj, fp.seq - 1u);
            let row = (b * fp.seq + j) * stride4;
            tile_k[jj * MAX_D4 + c] = qkv4[row + hidden4 + head4 + c];
            tile_v[jj * MAX_D4 + c] = qkv4[row + 2u * hidden4 + head4 + c];
        }
        if lid < KEYS {
            let j = j0 + lid;
            tile_on[lid] = select(0.0, mask[b * fp.seq + min(j, fp.seq - 1u)], j < fp.seq);
        }
        workgroupBarrier();
        for (var jj = 0u; jj < KEYS; jj++) {
            if tile_on[jj] != 0.0 {
                var s4 = vec4<f32>();
                for (var c = 0u; c < fp.d4; c++) {
                    s4 += q[c] * tile_k[jj * MAX_D4 + c];
                }
                let s = s4.x + s4.y + s4.z + s4.w;
                if s > mx {
                    let correction = exp(mx - s);
                    sum *= correction;
                    for (var c = 0u; c < fp.d4; c++) {
                        acc[c] *= correction;
                    }
                    mx = s;
                }
                let w = exp(s - mx);
                sum += w;
                for (var c = 0u; c < fp.d4; c++) {
                    acc[c] += w * tile_v[jj * MAX_D4 + c];
                }
            }
        }
        workgroupBarrier();
    }
    if i < fp.seq {
        let inv = select(0.0, 1.0 / sum, sum > 0.0);
        let out = (b * fp.seq + i) * fp.hidden + h * 4u * fp.d4;
        for (var c = 0u; c < fp.d4; c++) {
            let v = acc[c] * inv;
            ctx[out + 4u * c] = v.x;
            ctx[out + 4u * c + 1u] = v.y;
            ctx[out + 4u * c + 2u] = v.z;
            ctx[out + 4u * c + 3u] = v.w;
        }
    }
}
