// out[j] += sum over rows of x[row, j]: the bias's backward (dbias from dy; the bias's forward is the matmul
// epilogue) and the last step of a matmul split along k (Y from its partial products). One invocation
// per column, summing the rows in order, so the result does not depend on the adapter.

struct SumRowsParams {
    rows: u32,
    n: u32,       // columns
    stride: u32,  // x's row stride, >= n
}

@group(0) @binding(0) var<uniform> p: SumRowsParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // (rows, stride), columns past n unused
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // (n), accumulated

@compute @workgroup_size(64)
fn add_row_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = grid_index(gid, nwg);
    if j >= p.n { return; }
    var s = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        s += x[r * p.stride + j];
    }
    out[j] += s;
}
