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
    let row = gid.x + gid.y * nwg.x * 64u;
    if row >= p.rows {
        return;
    }
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
