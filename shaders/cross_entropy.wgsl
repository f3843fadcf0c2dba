// Softmax cross-entropy over rows of logits (the MLM head's masked rows, the NSP head, task heads).
// A label >= v (e.g. -100 as u32, Hugging Face's ignore index) marks a row that is not scored: loss 0,
// correct 0, gradient 0.

struct CrossEntropyParams {
    rows: u32,
    v: u32,      // classes (vocabulary size), any value
    scale: f32,  // backward: dlogits are multiplied by this (1 / scored rows for a mean)
    stride: u32, // row stride of the logits, >= v (the MLM logits are padded to a multiple of 4)
}

@group(0) @binding(0) var<uniform> p: CrossEntropyParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // (rows, stride), classes in [0, v)
@group(0) @binding(2) var<storage, read> labels: array<u32>;          // (rows)
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;    // (rows) lse - logit[label]
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;       // (rows) log-sum-exp, for the backward
@group(0) @binding(5) var<storage, read_write> correct: array<f32>;   // (rows) 1.0 where argmax == label

// WG, red_val and reduce_sum: reduce.wgsl.
var<workgroup> red_idx: array<u32, 64>;

// One 64-invocation workgroup per row (rows folded over workgroup_id.x and .y), each invocation striding
// over the row: max and first argmax, then the sum of exp(x - max), both reduced in a fixed tree order.
@compute @workgroup_size(64)
fn cross_entropy_forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let row = wid.x + wid.y * nwg.x;
    if row >= p.rows { return; }
    let base = row * p.stride;
    var mx = -3.4028234e38; // lowest f32 that browsers accept as a literal
    var arg = p.v; // none yet
    for (var j = lid; j < p.v; j += WG) {
        let x = logits[base + j];
        if x > mx || arg == p.v {
            mx = x;
            arg = j;
        }
    }
    red_val[lid] = mx;
    red_idx[lid] = arg;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            let ov = red_val[lid + s];
            let oi = red_idx[lid + s];
            // the larger value; on a tie the smaller index (torch.argmax returns the first maximum)
            if oi != p.v && (red_idx[lid] == p.v || ov > red_val[lid] || (ov == red_val[lid] && oi < red_idx[lid])) {
                red_val[lid] = ov;
                red_idx[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    let m = red_val[0];
    let argmax = red_idx[0];
    workgroupBarrier();

    var s = 0.0;
    for (var j = lid; j < p.v; j += WG) {
        s += exp(logits[base + j] - m);
    }
    let total = reduce_sum(lid, s);
    if lid == 0u {
        let l = m + log(total);
        lse[row] = l;
        let label = labels[row];
        if label < p.v {
            losses[row] = l - logits[base + label];
            correct[row] = select(0.0, 1.0, argmax == label);
        } else {
            losses[row] = 0.0;
            correct[row] = 0.0;
        }
    }
}

// Backward bindings (shares `p`); `b_` marks what the forward read or wrote.
@group(0) @binding(1) var<storage, read> b_labels: array<u32>;         // (rows)
@group(0) @binding(2) var<storage, read> b_lse: array<f32>;            // (rows) from the forward
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;    // (rows, stride): logits in, gradient out

// dlogits = (softmax(logits) - onehot(label)) * scale, in place over the first v columns of each row;
// one invocation per element.
@compute @workgroup_size(64)
fn cross_entropy_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= p.rows * p.v { return; }
    let row = i / p.v;
    let j = i % p.v;
    let at = row * p.stride + j;
    let label = b_labels[row];
    if label >= p.v {
        dlogits[at] = 0.0;
        return;
    }
    let prob = exp(dlogits[at] - b_lse[row]);
    dlogits[at] = (prob - select(0.0, 1.0, j == label)) * p.scale;
}
