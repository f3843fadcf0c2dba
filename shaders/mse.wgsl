// Squared-error loss of a regression head (one output per sequence): loss = (x - target)^2 per row.
// Rows at or past `scored` (padding sequences) score nothing and get a zero gradient.

struct MseParams {
    rows: u32,    // rows of the buffers
    scored: u32,  // rows that count: [0, scored)
    scale: f32,   // backward: the gradient 2 (x - target) is multiplied by this (1 / scored for a mean)
}

@group(0) @binding(0) var<uniform> p: MseParams;
@group(0) @binding(1) var<storage, read> values: array<f32>;          // (rows, 1) predictions
@group(0) @binding(2) var<storage, read> targets: array<f32>;         // (rows)
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;    // (rows)

// One invocation per row.
@compute @workgroup_size(64)
fn mse_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= p.rows { return; }
    let d = values[i] - targets[i];
    losses[i] = select(0.0, d * d, i < p.scored);
}

@group(0) @binding(0) var<uniform> pb: MseParams;
@group(0) @binding(1) var<storage, read> targets_b: array<f32>;               // (rows)
@group(0) @binding(2) var<storage, read_write> values_to_grad: array<f32>;    // (rows, 1) in place

// In place: the predictions become d(loss)/d(prediction). One invocation per row.
@compute @workgroup_size(64)
fn mse_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= pb.rows { return; }
    let d = values_to_grad[i] - targets_b[i];
    values_to_grad[i] = select(0.0, 2.0 * d * pb.scale, i < pb.scored);
}
