// Dropout with a counter-based mask: element i of dropout site `stream` is kept where
// rng_hash(seed, stream, i) >= threshold (common.wgsl), so the backward recomputes the same mask and
// nothing is stored or uploaded. `seed` changes every step (ops::dropout::step_seed).

struct DropoutParams {
    n: u32,          // elements
    threshold: u32,  // round(p * 2^32): P(hash < threshold) = p
    scale: f32,      // 1 / (1 - p)
    seed: u32,       // the step's seed
    stream: u32,     // the dropout site (layer and place), so sites draw independent masks
}

@group(0) @binding(0) var<uniform> p: DropoutParams;
@group(0) @binding(1) var<storage, read> inp: array<f32>;          // (n)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;    // (n)

fn keep_scale(i: u32) -> f32 {
    return select(0.0, p.scale, rng_hash(p.seed, p.stream, i) >= p.threshold);
}

// out = inp * keep / (1 - p); with p = 0 every element is kept with scale 1: an exact copy.
@compute @workgroup_size(64)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= p.n { return; }
    out[i] = inp[i] * keep_scale(i);
}

@group(0) @binding(1) var<storage, read> dout: array<f32>;         // (n)
@group(0) @binding(2) var<storage, read_write> dinp: array<f32>;   // (n)

// dinp = dout * keep / (1 - p), the same mask as the forward with the same seed and stream.
@compute @workgroup_size(64)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= p.n { return; }
    dinp[i] = dout[i] * keep_scale(i);
}
