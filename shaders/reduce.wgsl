// Workgroup reductions shared by cross_entropy.wgsl and adamw.wgsl (prepended to both): 64 invocations,
// a fixed tree order, so every sum is deterministic.

const WG: u32 = 64u;
var<workgroup> red_val: array<f32, 64>;

// Tree reduction of red_val (sum) over the workgroup; every invocation must call it.
fn reduce_sum(lid: u32, x: f32) -> f32 {
    red_val[lid] = x;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            red_val[lid] += red_val[lid + s];
        }
        workgroupBarrier();
    }
    let total = red_val[0];
    workgroupBarrier(); // red_val may be reused right after
    return total;
}
