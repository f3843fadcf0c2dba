// BERT embeddings: word + position + token type, summed (the LayerNorm that follows is layernorm.wgsl).

struct EmbeddingParams {
    tokens: u32,  // batch * seq
    c: u32,       // hidden size, a multiple of 4
}

@group(0) @binding(0) var<uniform> p: EmbeddingParams;
@group(0) @binding(1) var<storage, read> ids: array<u32>;              // (tokens) word ids
@group(0) @binding(2) var<storage, read> positions: array<u32>;        // (tokens) position ids
@group(0) @binding(3) var<storage, read> types: array<u32>;            // (tokens) token type (segment) ids
@group(0) @binding(4) var<storage, read> word: array<vec4<f32>>;       // (vocab, c)
@group(0) @binding(5) var<storage, read> position: array<vec4<f32>>;   // (max_positions, c)
@group(0) @binding(6) var<storage, read> token_type: array<vec4<f32>>; // (type_vocab, c)
@group(0) @binding(7) var<storage, read_write> out: array<vec4<f32>>;  // (tokens, c)

// One invocation per (token, 4 channels).
@compute @workgroup_size(64)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    let c4 = p.c / 4u;
    if i >= p.tokens * c4 { return; }
    let t = i / c4;
    let ch = i % c4;
    out[i] = word[ids[t] * c4 + ch] + position[positions[t] * c4 + ch] + token_type[types[t] * c4 + ch];
}

// ---- Backward: table gradients without atomics ------------------------------------------------------------
// The host groups the batch's tokens by id (ops::embedding::GradIndex): one invocation per (unique id,
// 4 channels) sums its tokens' rows in token order and adds the sum into the table row. Deterministic.
// grad_index layout (u32): [n_unique | unique ids (max_tokens) | starts (max_tokens + 1) | tokens (max_tokens)];
// the tokens of unique id u are tokens[starts[u] .. starts[u + 1]].

struct EmbeddingBackwardParams {
    tokens: u32,      // rows of demb (batch * seq); unique ids <= tokens
    c: u32,           // hidden size, a multiple of 4
    max_tokens: u32,  // capacity of the grad index (its layout below)
}

@group(0) @binding(0) var<uniform> pb: EmbeddingBackwardParams;
@group(0) @binding(1) var<storage, read> grad_index: array<u32>;          // (2 + 3 * max_tokens), see above
@group(0) @binding(2) var<storage, read> demb: array<vec4<f32>>;          // (tokens, c)
@group(0) @binding(3) var<storage, read_write> dtable: array<vec4<f32>>;  // (table rows, c), accumulated

@compute @workgroup_size(64)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    let c4 = pb.c / 4u;
    if i >= pb.tokens * c4 { return; }
    let u = i / c4;
    let ch = i % c4;
    if u >= grad_index[0] { return; }
    let id = grad_index[1u + u];
    let starts = 1u + pb.max_tokens;
    let order = starts + pb.max_tokens + 1u;
    var s = vec4<f32>();
    for (var k = grad_index[starts + u]; k < grad_index[starts + u + 1u]; k++) {
        s += demb[grad_index[order + k] * c4 + ch];
    }
    dtable[id * c4 + ch] += s;
}
