//! BERT embeddings (shaders/embedding.wgsl): word + position + token type.

use super::grid_1d;
use crate::gpu::{Access, Kernel, Recorder, Shader, Tensor};

const FORWARD: Kernel = Kernel {
    shader: Shader::Embedding,
    entry: "embedding_forward",
    bindings: &[
        Access::Uniform,
        Access::Read,      // ids (tokens)
        Access::Read,      // positions (tokens)
        Access::Read,      // types (tokens)
        Access::Read,      // word (vocab, c)
        Access::Read,      // position (max_positions, c)
        Access::Read,      // token_type (type_vocab, c)
        Access::ReadWrite, // out (tokens, c)
    ],
};

/// The id buffers of one batch, each (tokens) u32.
pub struct TokenIds<'a> {
    pub ids: &'a wgpu::Buffer,
    pub positions: &'a wgpu::Buffer,
    pub types: &'a wgpu::Buffer,
}

/// out (tokens, c) = word[ids] + position[positions] + token_type[types].
pub fn forward(
    rec: &mut Recorder,
    tokens: &TokenIds,
    word: &Tensor,
    position: &Tensor,
    token_type: &Tensor,
    out: &Tensor,
) {
    let c = word.shape[1];
    assert_eq!(c % 4, 0, "embedding: hidden size must be a multiple of 4");
    let n = out.len() / c;
    rec.dispatch(
        &FORWARD,
        &[n as u32, c as u32],
        &[
            tokens.ids,
            tokens.positions,
            tokens.types,
            &word.buf,
            &position.buf,
            &token_type.buf,
            &out.buf,
        ],
        grid_1d(n * c / 4),
    );
}
