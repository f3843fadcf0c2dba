//! BERT embeddings (shaders/embedding.wgsl): word + position + token type.

use super::grid_1d;
use crate::bail;
use crate::error::Result;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Gpu, Kernel, Recorder, Shader, Tensor};

/// `shaders/embedding.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("embedding.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EmbeddingParams {
    tokens: u32,
    c: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EmbeddingBackwardParams {
    tokens: u32,
    c: u32,
    max_tokens: u32,
}

// reads ids, positions, types, word, position, token_type; writes out
const FORWARD: Kernel = Kernel::new::<EmbeddingParams>(SHADER, "embedding_forward", &[U, R, R, R, R, R, R, W]);

/// The id buffers of one batch, each (tokens) u32.
pub struct TokenIds<'a> {
    pub ids: &'a wgpu::Buffer,
    pub positions: &'a wgpu::Buffer,
    pub types: &'a wgpu::Buffer,
}

/// `out (tokens, c) = word[ids] + position[positions] + token_type[types]`.
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
        &EmbeddingParams {
            tokens: n as u32,
            c: c as u32,
        },
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

// reads grad_index, demb; writes dtable
const BACKWARD: Kernel = Kernel::new::<EmbeddingBackwardParams>(SHADER, "embedding_backward", &[U, R, R, W]);

/// A batch's tokens grouped by id, so that the table gradient needs no atomics: one GPU buffer, allocated
/// once for `max_tokens` and rewritten each step with `queue.write_buffer`.
/// Layout (u32): `[n_unique | unique ids (max_tokens) | starts (max_tokens + 1) | tokens (max_tokens)]`;
/// the tokens of unique id `u` are `tokens[starts[u] .. starts[u + 1]]`, in increasing order.
pub struct GradIndex {
    pub buf: wgpu::Buffer,
    pub max_tokens: usize,
}

impl GradIndex {
    /// Allocates the buffer for batches of at most `max_tokens` tokens.
    pub fn alloc(gpu: &Gpu, max_tokens: usize) -> Result<GradIndex> {
        let buf = gpu.upload_u32(&vec![0; 2 + 3 * max_tokens], "embedding grad index")?;
        Ok(GradIndex { buf, max_tokens })
    }

    /// Groups `ids` (one per token, in token order) and queues the upload. Call it before the submit that
    /// runs `backward` (queued writes land before the next submit's commands).
    pub fn write(&self, queue: &wgpu::Queue, ids: &[u32]) -> Result<()> {
        self.write_skipping(queue, ids, None)
    }

    /// As `write`, leaving out the tokens whose id is `skip`: their table row gets no gradient (PyTorch's
    /// `nn.Embedding(padding_idx=...)`, which Hugging Face's BERT uses for `pad_token_id` in the word table).
    pub fn write_skipping(&self, queue: &wgpu::Queue, ids: &[u32], skip: Option<u32>) -> Result<()> {
        queue.write_buffer(&self.buf, 0, bytemuck::cast_slice(&self.layout(ids, skip)?));
        Ok(())
    }

    /// The buffer's contents for `ids` (host side, also what the tests check).
    pub fn layout(&self, ids: &[u32], skip: Option<u32>) -> Result<Vec<u32>> {
        let max = self.max_tokens;
        if ids.len() > max {
            bail!(
                "embedding grad index: {} tokens exceed the {max} it was allocated for",
                ids.len()
            );
        }
        let mut order: Vec<u32> = (0..ids.len() as u32)
            .filter(|&t| Some(ids[t as usize]) != skip)
            .collect();
        order.sort_by_key(|&t| ids[t as usize]); // stable: tokens stay in order within an id
        let mut data = vec![0u32; 2 + 3 * max];
        let (unique_at, starts_at, order_at) = (1, 1 + max, 2 + 2 * max);
        let mut n_unique = 0;
        for (k, &t) in order.iter().enumerate() {
            let id = ids[t as usize];
            if n_unique == 0 || data[unique_at + n_unique - 1] != id {
                data[unique_at + n_unique] = id;
                data[starts_at + n_unique] = k as u32;
                n_unique += 1;
            }
            data[order_at + k] = t;
        }
        data[0] = n_unique as u32;
        data[starts_at + n_unique] = order.len() as u32;
        Ok(data)
    }
}

/// dtable (table rows, c) += the sum of demb's rows (tokens, c) over the tokens of each id, with the ids
/// grouped in `index` (written from the same tokens). Call once per table: word, position and token type
/// ids each have their own GradIndex. One invocation per (unique id, 4 channels): deterministic.
pub fn backward(rec: &mut Recorder, index: &GradIndex, demb: &Tensor, dtable: &Tensor) {
    let c = *dtable.shape.last().expect("embedding backward: dtable has a shape");
    assert_eq!(c % 4, 0, "embedding backward: hidden size must be a multiple of 4");
    let tokens = demb.len() / c;
    assert_eq!(demb.len(), tokens * c, "embedding backward: demb shape");
    assert!(
        tokens <= index.max_tokens,
        "embedding backward: {tokens} tokens exceed the grad index's {}",
        index.max_tokens
    );
    rec.dispatch(
        &BACKWARD,
        &EmbeddingBackwardParams {
            tokens: tokens as u32,
            c: c as u32,
            max_tokens: index.max_tokens as u32,
        },
        &[&index.buf, &demb.buf, &dtable.buf],
        grid_1d(tokens * c / 4),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD];
