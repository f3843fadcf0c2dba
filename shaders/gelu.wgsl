// GELU as a standalone op (the matmul epilogue applies the same `activate` from common.wgsl).

struct GeluParams {
    n: u32,    // element count
    act: u32,  // ACT_GELU or ACT_GELU_TANH
}

@group(0) @binding(0) var<uniform> p: GeluParams;
@group(0) @binding(1) var<storage, read> inp: array<f32>;         // (n)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // (n)

@compute @workgroup_size(64)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= p.n { return; }
    out[i] = activate(inp[i], p.act);
}

// Backward bindings (another entry point may reuse a binding number): 1 is `inp` above, the pre-activation.
@group(0) @binding(2) var<storage, read> dout: array<f32>;           // (n)
@group(0) @binding(3) var<storage, read_write> dinp: array<f32>;     // (n)

// dinp = dout * act'(inp), elementwise (written, not accumulated).
@compute @workgroup_size(64)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= p.n { return; }
    dinp[i] = dout[i] * activate_grad(inp[i], p.act);
}
