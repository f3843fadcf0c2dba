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
    let i = gid.x + gid.y * nwg.x * 64u;
    let c4 = p.c / 4u;
    if i >= p.tokens * c4 {
        return;
    }
    let t = i / c4;
    let ch = i % c4;
    out[i] = word[ids[t] * c4 + ch] + position[positions[t] * c4 + ch] + token_type[types[t] * c4 + ch];
}
