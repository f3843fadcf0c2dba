// Row gather: out[i] = inp[index[i]]. Picks [CLS] rows for the pooler and masked rows for the MLM head,
// so the vocabulary projection runs only where a prediction is needed.

struct GatherParams {
    rows: u32,  // rows to gather
    c: u32,     // row length, a multiple of 4
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<storage, read> index: array<u32>;          // (rows) source row of each output row
@group(0) @binding(2) var<storage, read> inp: array<vec4<f32>>;      // (source rows, c)
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>; // (rows, c)

@compute @workgroup_size(64)
fn gather_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    let c4 = p.c / 4u;
    if i >= p.rows * c4 { return; }
    out[i] = inp[index[i / c4] * c4 + i % c4];
}

// Backward: the gradient goes back to the gathered rows and is 0 elsewhere. The host inverts the index
// (ops::gather::inverse_index), so each token row is written by one invocation: no atomics.

struct GatherBackwardParams {
    tokens: u32,     // rows of dinp (source rows of the forward)
    c: u32,          // row length, a multiple of 4
    accumulate: u32, // 1: dinp +=, 0: dinp =
}

@group(0) @binding(0) var<uniform> pb: GatherBackwardParams;
@group(0) @binding(1) var<storage, read> inverse: array<i32>;            // (tokens) gathered row of each token, or -1
@group(0) @binding(2) var<storage, read> dout: array<vec4<f32>>;         // (rows, c)
@group(0) @binding(3) var<storage, read_write> dinp: array<vec4<f32>>;   // (tokens, c)

// One invocation per (token, 4 channels).
@compute @workgroup_size(64)
fn gather_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    let c4 = pb.c / 4u;
    if i >= pb.tokens * c4 { return; }
    let src = inverse[i / c4];
    var g = vec4<f32>();
    if src >= 0 {
        g = dout[u32(src) * c4 + i % c4];
    }
    if pb.accumulate != 0u {
        dinp[i] += g;
    } else {
        dinp[i] = g;
    }
}
