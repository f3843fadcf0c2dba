// LayerNorm over the last dimension, optionally of (inp + residual): BERT's "Add & Norm".
// Saves mean and rstd per row for the backward pass.

struct LayernormParams {
    rows: u32,
    c: u32,            // channels (hidden size), a multiple of 4
    eps: f32,
    has_residual: u32, // 1: normalise inp + residual
}

@group(0) @binding(0) var<uniform> p: LayernormParams;
@group(0) @binding(1) var<storage, read> inp: array<vec4<f32>>;       // (rows, c)
@group(0) @binding(2) var<storage, read> residual: array<vec4<f32>>;  // (rows, c), read when has_residual
@group(0) @binding(3) var<storage, read> weight: array<vec4<f32>>;    // (c) gamma
@group(0) @binding(4) var<storage, read> bias: array<vec4<f32>>;      // (c) beta
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (rows, c)
@group(0) @binding(6) var<storage, read_write> mean: array<f32>;      // (rows)
@group(0) @binding(7) var<storage, read_write> rstd: array<f32>;      // (rows)

fn load_x(i: u32) -> vec4<f32> {
    if p.has_residual != 0u {
        return inp[i] + residual[i];
    }
    return inp[i];
}

// One invocation per row, two passes (mean, then variance) as PyTorch computes it.
@compute @workgroup_size(64)
fn layernorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = grid_index(gid, nwg);
    if row >= p.rows { return; }
    let c4 = p.c / 4u;
    let base = row * c4;
    var s = vec4<f32>();
    for (var i = 0u; i < c4; i++) {
        s += load_x(base + i);
    }
    let m = (s.x + s.y + s.z + s.w) / f32(p.c);
    var v = vec4<f32>();
    for (var i = 0u; i < c4; i++) {
        let d = load_x(base + i) - m;
        v += d * d;
    }
    let r = inverseSqrt((v.x + v.y + v.z + v.w) / f32(p.c) + p.eps);
    for (var i = 0u; i < c4; i++) {
        out[base + i] = (load_x(base + i) - m) * r * weight[i] + bias[i];
    }
    mean[row] = m;
    rstd[row] = r;
}

// ---- Backward ---------------------------------------------------------------------------------------------
// The backward entries share `p` (eps unused) and their own bindings; `b_` marks a tensor the forward
// read or wrote (another entry point may reuse a binding number, not a name).
@group(0) @binding(1) var<storage, read> dout: array<vec4<f32>>;          // (rows, c)
@group(0) @binding(2) var<storage, read> b_inp: array<vec4<f32>>;         // (rows, c)
@group(0) @binding(3) var<storage, read> b_residual: array<vec4<f32>>;    // (rows, c), read when has_residual
@group(0) @binding(4) var<storage, read> b_mean: array<f32>;              // (rows) saved by the forward
@group(0) @binding(5) var<storage, read> b_rstd: array<f32>;              // (rows) saved by the forward
@group(0) @binding(6) var<storage, read> b_weight: array<vec4<f32>>;      // (c) gamma; backward entries
@group(0) @binding(7) var<storage, read_write> dinp: array<vec4<f32>>;    // (rows, c); backward entries
@group(0) @binding(8) var<storage, read_write> dres: array<vec4<f32>>;    // (rows, c); layernorm_backward_dres
@group(0) @binding(6) var<storage, read_write> dweight: array<vec4<f32>>; // (c); layernorm_backward_params
@group(0) @binding(7) var<storage, read_write> dbias: array<vec4<f32>>;   // (c); layernorm_backward_params

fn b_xhat(row: u32, i: u32) -> vec4<f32> {
    var x = b_inp[i];
    if p.has_residual != 0u {
        x += b_residual[i];
    }
    return (x - b_mean[row]) * b_rstd[row];
}

// (mean over the row of dxhat, mean of dxhat * xhat), dxhat = dout * weight.
fn b_row_terms(row: u32) -> vec2<f32> {
    let c4 = p.c / 4u;
    let base = row * c4;
    var s1 = vec4<f32>();
    var s2 = vec4<f32>();
    for (var i = 0u; i < c4; i++) {
        let g = dout[base + i] * b_weight[i];
        s1 += g;
        s2 += g * b_xhat(row, base + i);
    }
    return vec2<f32>(s1.x + s1.y + s1.z + s1.w, s2.x + s2.y + s2.z + s2.w) / f32(p.c);
}

// dinp = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) at vec4 `i` of `row`.
fn b_dinp(row: u32, i: u32, terms: vec2<f32>) -> vec4<f32> {
    let c4 = p.c / 4u;
    let g = dout[row * c4 + i] * b_weight[i];
    return b_rstd[row] * (g - terms.x - b_xhat(row, row * c4 + i) * terms.y);
}

// One invocation per row; dinp is written.
@compute @workgroup_size(64)
fn layernorm_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = grid_index(gid, nwg);
    if row >= p.rows { return; }
    let terms = b_row_terms(row);
    let c4 = p.c / 4u;
    for (var i = 0u; i < c4; i++) {
        dinp[row * c4 + i] = b_dinp(row, i, terms);
    }
}

// As layernorm_backward, and the same values written into dres (the residual branch's gradient).
@compute @workgroup_size(64)
fn layernorm_backward_dres(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = grid_index(gid, nwg);
    if row >= p.rows { return; }
    let terms = b_row_terms(row);
    let c4 = p.c / 4u;
    for (var i = 0u; i < c4; i++) {
        let d = b_dinp(row, i, terms);
        dinp[row * c4 + i] = d;
        dres[row * c4 + i] = d;
    }
}

// One invocation per 4 channels, looping over the rows in order (deterministic, no atomics):
// dweight += sum_rows dout * xhat, dbias += sum_rows dout.
@compute @workgroup_size(64)
fn layernorm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    let c4 = p.c / 4u;
    if i >= c4 { return; }
    var dw = vec4<f32>();
    var db = vec4<f32>();
    for (var row = 0u; row < p.rows; row++) {
        let d = dout[row * c4 + i];
        dw += d * b_xhat(row, row * c4 + i);
        db += d;
    }
    dweight[i] += dw;
    dbias[i] += db;
}
