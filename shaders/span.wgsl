// Question-answering logits: the head gives every token a (start, end) pair; the losses want the start
// logits of a sequence as one row and its end logits as another. Forward splits (tokens, 2) into
// (2, batch, seq) (all starts, then all ends); positions at or past `valid` (padding added beyond the
// batch's longest sequence) get a large negative logit so the softmax over positions ignores them.
// Backward is the transpose; masked positions get no gradient.

struct SpanParams {
    batch: u32,
    seq: u32,    // positions per sequence in the buffers
    valid: u32,  // positions that take part in the softmax: [0, valid)
}

@group(0) @binding(0) var<uniform> p: SpanParams;
@group(0) @binding(1) var<storage, read> pairs: array<f32>;           // (batch * seq, 2) start, end
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;      // (2, batch, seq)

// One invocation per element of `rows`.
@compute @workgroup_size(64)
fn span_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    let tokens = p.batch * p.seq;
    if i >= 2u * tokens { return; }
    let column = i / tokens;
    let token = i % tokens;
    if token % p.seq < p.valid {
        rows[i] = pairs[token * 2u + column];
    } else {
        rows[i] = -1.0e30;
    }
}

@group(0) @binding(0) var<uniform> pb: SpanParams;
@group(0) @binding(1) var<storage, read> drows: array<f32>;            // (2, batch, seq)
@group(0) @binding(2) var<storage, read_write> dpairs: array<f32>;     // (batch * seq, 2)

// One invocation per element of `dpairs`.
@compute @workgroup_size(64)
fn span_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    let tokens = pb.batch * pb.seq;
    if i >= 2u * tokens { return; }
    let token = i / 2u;
    let column = i % 2u;
    if token % pb.seq < pb.valid {
        dpairs[i] = drows[column * tokens + token];
    } else {
        dpairs[i] = 0.0;
    }
}
