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
    let i = gid.x + gid.y * nwg.x * 64u;
    let c4 = p.c / 4u;
    if i >= p.rows * c4 {
        return;
    }
    out[i] = inp[index[i / c4] * c4 + i % c4];
}
