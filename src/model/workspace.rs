//! The activations of one (batch, seq) shape and the gradients of its backward pass, allocated once and
//! reused, and the check that a model and its activations fit the adapter before anything is allocated.

use super::weights::{self, Dims, Parts};
use super::BertConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::gpu::{Gpu, Tensor};
use crate::ops::attention::{self, Shape};
use crate::ops::embedding::GradIndex;
use crate::ops::gather;

/// The activations of one encoder layer. Inference shares one set across layers; training keeps one
/// per layer for the backward pass.
pub struct LayerActs {
    pub qkv: Tensor,       // (tokens, 3H) Q | K | V
    pub ctx: Tensor,       // (tokens, H) attention context
    pub attn_proj: Tensor, // (tokens, H) attention output projection
    pub attn_norm: Tensor, // (tokens, H) LayerNorm(attn_proj + input)
    /// (tokens, I) intermediate before the activation; training only (inference fuses GELU into the matmul).
    pub inter_pre: Option<Tensor>,
    pub inter: Tensor,   // (tokens, I) after the activation
    pub ffn_out: Tensor, // (tokens, H) output projection
    /// Training with dropout: what dropout made of the attention probabilities and projections.
    pub dropped: Option<DroppedActs>,
}

/// The dropped copies of one layer's activations (the originals stay for the backward pass).
pub struct DroppedActs {
    pub probs: Tensor,     // (batch, heads, seq, seq) multiplies V
    pub attn_proj: Tensor, // (tokens, H) enters the first residual LayerNorm
    pub ffn_out: Tensor,   // (tokens, H) enters the second residual LayerNorm
}

/// Dropout of one training step: the step's seed (see `ops::dropout::step_seed`) and the probabilities.
/// Sites (dropout streams): 0 the embeddings, then for layer l 1 + 3l the attention probabilities,
/// 2 + 3l the attention output, 3 + 3l the feed-forward output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    pub seed: u32,
    pub hidden: f32,
    pub attention: f32,
}

impl LayerActs {
    fn new(gpu: &Gpu, c: &BertConfig, batch: usize, seq: usize, training: bool) -> Result<LayerActs> {
        let (h, i, t) = (c.hidden_size, c.intermediate_size, batch * seq);
        let dropped = if training && c.uses_dropout() {
            Some(DroppedActs {
                probs: gpu.zeros(&[batch, c.num_attention_heads, seq, seq], "attention_probs_dropped")?,
                attn_proj: gpu.zeros(&[t, h], "attention_projection_dropped")?,
                ffn_out: gpu.zeros(&[t, h], "ffn_output_dropped")?,
            })
        } else {
            None
        };
        Ok(LayerActs {
            qkv: gpu.zeros(&[t, 3 * h], "qkv")?,
            ctx: gpu.zeros(&[t, h], "context")?,
            attn_proj: gpu.zeros(&[t, h], "attention_projection")?,
            attn_norm: gpu.zeros(&[t, h], "attention_output")?,
            inter_pre: if training {
                Some(gpu.zeros(&[t, i], "intermediate_pre")?)
            } else {
                None
            },
            inter: gpu.zeros(&[t, i], "intermediate")?,
            ffn_out: gpu.zeros(&[t, h], "ffn_output")?,
            dropped,
        })
    }
}

/// How inference computes attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionMode {
    /// Fused when one layer's probabilities would take more than `FUSED_ABOVE_BYTES` (or the head size
    /// rules it out), unfused otherwise: on CPU adapters (lavapipe) the unfused matmuls are quicker at
    /// BERT's usual lengths, and the fused kernel keeps long or wide batches within memory.
    Auto,
    /// One kernel per block of queries (online softmax); nothing of size (seq x seq) is stored.
    Fused,
    /// Scores, softmax and context as three dispatches, through one probabilities buffer shared by layers.
    Unfused,
    /// Unfused, keeping each layer's probabilities (attention maps).
    KeepProbabilities,
}

/// [`AttentionMode::Auto`] switches to the fused attention above this many bytes of probabilities per layer.
pub const FUSED_ABOVE_BYTES: usize = 64 << 20;

impl AttentionMode {
    /// `Auto` decided for a shape; `Fused` falls back to `Unfused` where the head size rules it out.
    pub fn resolve(self, c: &BertConfig, batch: usize, seq: usize) -> AttentionMode {
        let fusable = attention::fused_supported(c.head_dim());
        match self {
            AttentionMode::Auto if fusable && batch * c.num_attention_heads * seq * seq * 4 > FUSED_ABOVE_BYTES => {
                AttentionMode::Fused
            }
            AttentionMode::Auto => AttentionMode::Unfused,
            AttentionMode::Fused if !fusable => AttentionMode::Unfused,
            m => m,
        }
    }
}

/// Activations for one (batch, seq) shape, allocated once and reused while the shape stays.
pub struct Workspace {
    pub batch: usize,
    pub seq: usize,
    pub training: bool,
    /// How inference attends (training always keeps every layer's probabilities).
    pub attention: AttentionMode,
    pub ids: wgpu::Buffer,       // (tokens) u32
    pub positions: wgpu::Buffer, // (tokens) u32
    pub types: wgpu::Buffer,     // (tokens) u32
    pub mask: Tensor,            // (batch, seq)
    pub emb: Tensor,             // (tokens, H) embedding sum before LayerNorm
    /// (tokens, H) the embeddings' LayerNorm output before dropout (training with dropout only).
    pub emb_norm: Option<Tensor>,
    /// `hidden[0]` = embeddings output, `hidden[l + 1]` = output of layer l; each (tokens, H).
    pub hidden: Vec<Tensor>,
    /// Attention probabilities, (batch, heads, seq, seq): one per layer for training and
    /// `AttentionMode::KeepProbabilities`; one shared by all layers for unfused inference; none for the fused
    /// attention, which never stores them.
    pub probs: Vec<Tensor>,
    /// (mean, rstd) of each LayerNorm, each (tokens): embeddings, then two per layer.
    pub ln_stats: Vec<(Tensor, Tensor)>,
    /// One set per layer when training, one shared set for inference.
    pub layers: Vec<LayerActs>,
    pub cls_index: wgpu::Buffer,  // (batch) u32: row of each [CLS]
    pub cls: Tensor,              // (batch, H)
    pub pool_pre: Option<Tensor>, // (batch, H) pooler dense output before tanh (training only)
    pub pooled: Tensor,           // (batch, H)
    pub nsp_logits: Tensor,       // (batch, 2)
}

impl Workspace {
    pub(super) fn new(
        gpu: &Gpu,
        c: &BertConfig,
        batch: usize,
        seq: usize,
        training: bool,
        attention: AttentionMode,
    ) -> Result<Workspace> {
        let (h, t) = (c.hidden_size, batch * seq);
        let probs_sets = match attention.resolve(c, batch, seq) {
            _ if training => c.num_hidden_layers,
            AttentionMode::KeepProbabilities => c.num_hidden_layers,
            AttentionMode::Unfused => 1,
            _ => 0,
        };
        let z = |shape: &[usize], name: &str| gpu.zeros(shape, name);
        // Padding slots past the table (seq is rounded up to a multiple of 4) reuse its last row.
        let last_pos = c.max_position_embeddings - 1;
        let positions: Vec<u32> = (0..t).map(|i| (i % seq).min(last_pos) as u32).collect();
        let cls_rows: Vec<u32> = (0..batch).map(|b| (b * seq) as u32).collect();
        let layers = c.num_hidden_layers;
        let act_sets = if training { layers } else { 1 };
        Ok(Workspace {
            batch,
            seq,
            training,
            attention,
            ids: gpu.upload_u32(&vec![0; t], "input_ids")?,
            positions: gpu.upload_u32(&positions, "position_ids")?,
            types: gpu.upload_u32(&vec![0; t], "token_type_ids")?,
            mask: z(&[batch, seq], "attention_mask")?,
            emb: z(&[t, h], "embedding_sum")?,
            emb_norm: if training && c.uses_dropout() {
                Some(z(&[t, h], "embedding_output_predropout")?)
            } else {
                None
            },
            hidden: (0..=layers)
                .map(|l| z(&[t, h], &format!("hidden_states.{l}")))
                .collect::<Result<_>>()?,
            probs: (0..probs_sets)
                .map(|l| z(&[batch, c.num_attention_heads, seq, seq], &format!("attentions.{l}")))
                .collect::<Result<_>>()?,
            ln_stats: (0..1 + 2 * layers)
                .map(|_| Ok((z(&[t], "ln_mean")?, z(&[t], "ln_rstd")?)))
                .collect::<Result<_>>()?,
            layers: (0..act_sets)
                .map(|_| LayerActs::new(gpu, c, batch, seq, training))
                .collect::<Result<_>>()?,
            cls_index: gpu.upload_u32(&cls_rows, "cls_index")?,
            cls: z(&[batch, h], "cls")?,
            pool_pre: if training {
                Some(z(&[batch, h], "pooler_pre")?)
            } else {
                None
            },
            pooled: z(&[batch, h], "pooled_output")?,
            nsp_logits: z(&[batch, 2], "nsp_logits")?,
        })
    }

    /// The last hidden state, (tokens, H).
    pub fn last_hidden(&self) -> &Tensor {
        self.hidden.last().unwrap()
    }

    /// The activations of layer `l` (shared across layers for inference).
    pub fn layer(&self, l: usize) -> &LayerActs {
        &self.layers[l.min(self.layers.len() - 1)]
    }

    pub fn shape(&self, c: &BertConfig) -> Shape {
        Shape {
            batch: self.batch,
            seq: self.seq,
            heads: c.num_attention_heads,
            head_dim: c.head_dim(),
        }
    }
}

/// Checks, before anything is allocated, that the model's largest tensors and the activations of a
/// `batch` x `seq` forward fit the adapter's per-buffer limits; names the tensor that does not and, for
/// activations, what to lower ([`Gpu::set_limit_hint`]).
pub fn check_fits(gpu: &Gpu, c: &BertConfig, batch: usize, seq: usize) -> Result<()> {
    let max = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size);
    let (b, s, heads, i) = (
        batch as u64,
        seq as u64,
        c.num_attention_heads as u64,
        c.intermediate_size as u64,
    );
    let product = |xs: &[u64]| xs.iter().fold(1u64, |n, &x| n.saturating_mul(x));
    // (what, f32 values, whether it is an activation: a smaller batch or sequence shrinks it)
    let parameters = weights::params(Dims::of(c), Parts::PRETRAINING).into_iter().map(|p| {
        let shape: Vec<String> = p.shape.iter().map(|d| d.to_string()).collect();
        let floats = product(&p.shape.iter().map(|&d| d as u64).collect::<Vec<_>>());
        (format!("{} ({})", p.name, shape.join(" x ")), floats, false)
    });
    let activations = [
        (
            "the intermediate activations (tokens x intermediate_size)".to_string(),
            product(&[b, s, i]),
            true,
        ),
        (
            "the attention probabilities (batch x heads x seq x seq)".to_string(),
            product(&[b, heads, s, s]),
            true,
        ),
    ];
    let tensors = parameters.chain(activations);
    for (name, floats, activation) in tensors {
        let bytes = floats.saturating_mul(4);
        if bytes > max {
            let what = if activation {
                "the batch is too large"
            } else {
                "the model is too large"
            };
            return Err(Error::of(
                ErrorKind::Limits,
                format!(
                "{what} for this adapter: {name} needs {:.1} MiB, but the adapter allows {:.1} MiB per buffer; this \
                 tensor exceeds this adapter's storage binding limit{}",
                bytes as f64 / 1048576.0,
                max as f64 / 1048576.0,
                if activation { gpu.hint() } else { String::new() }
            ),
            ));
        }
    }
    Ok(())
}

/// Activation gradients and index buffers for one (batch, seq, MLM rows) shape, allocated once.
pub struct BackwardBuffers {
    /// Gradient of a layer's output and of its input, swapped after each layer; each (tokens, H).
    /// `d_hidden[0]` starts as the gradient of the last hidden state (`d_last`).
    pub(super) d_hidden: [Tensor; 2],
    pub(super) dz2: Tensor, // (tokens, H) gradient of the second LayerNorm's input (= of ffn_out)
    pub(super) d_attn_norm: Tensor, // (tokens, H) gradient of the attention block's output
    pub(super) d_inter: Tensor, // (tokens, I)
    pub(super) d_inter_pre: Tensor, // (tokens, I)
    pub(super) dz1: Tensor, // (tokens, H) gradient of the first LayerNorm's input (= of attn_proj)
    pub(super) d_ctx: Tensor, // (tokens, H)
    pub(super) d_probs: Tensor, // (batch, heads, seq, seq); becomes d(scores) in place
    pub(super) d_qkv: Tensor, // (tokens, 3H)
    pub(super) d_emb: Tensor, // (tokens, H)
    pub(super) d_drop: Tensor, // (tokens, H) gradient before a dropout (training with dropout only)
    pub(super) d_probs_drop: Option<Tensor>, // (batch, heads, seq, seq) gradient of the dropped probabilities
    pub(super) word_index: GradIndex,
    pub(super) position_index: GradIndex,
    pub(super) type_index: GradIndex,
    pub(super) mlm_inverse: wgpu::Buffer, // (tokens) i32: MLM row of each token or -1
    pub(super) cls_inverse: wgpu::Buffer, // (tokens) i32: batch row of each [CLS] or -1
    pub(super) d_normed: Tensor,          // (rows, H)
    pub(super) d_transformed: Tensor,     // (rows, H)
    pub(super) d_transform_pre: Tensor,   // (rows, H)
    pub(super) d_picked: Tensor,          // (rows, H)
    pub d_pooled: Tensor,                 // (batch, H) gradient of the pooled output, written by a head on [CLS]
    pub(super) d_pool_pre: Tensor,        // (batch, H)
    pub(super) d_cls: Tensor,             // (batch, H)
}

impl BackwardBuffers {
    pub fn new(gpu: &Gpu, c: &BertConfig, batch: usize, seq: usize, rows: usize) -> Result<BackwardBuffers> {
        let (h, i, t) = (c.hidden_size, c.intermediate_size, batch * seq);
        let z = |shape: &[usize], name: &str| gpu.zeros(shape, name);
        let cls_rows: Vec<u32> = (0..batch).map(|b| (b * seq) as u32).collect();
        let cls_inverse = gather::inverse_index(&cls_rows, t);
        Ok(BackwardBuffers {
            d_hidden: [z(&[t, h], "d_hidden_a")?, z(&[t, h], "d_hidden_b")?],
            dz2: z(&[t, h], "d_ffn_out")?,
            d_attn_norm: z(&[t, h], "d_attention_output")?,
            d_inter: z(&[t, i], "d_intermediate")?,
            d_inter_pre: z(&[t, i], "d_intermediate_pre")?,
            dz1: z(&[t, h], "d_attention_projection")?,
            d_ctx: z(&[t, h], "d_context")?,
            d_probs: z(&[batch, c.num_attention_heads, seq, seq], "d_attention_probs")?,
            d_qkv: z(&[t, 3 * h], "d_qkv")?,
            d_emb: z(&[t, h], "d_embedding_sum")?,
            d_drop: z(&[t, h], "d_dropout")?,
            d_probs_drop: if c.uses_dropout() {
                Some(z(
                    &[batch, c.num_attention_heads, seq, seq],
                    "d_attention_probs_dropped",
                )?)
            } else {
                None
            },
            word_index: GradIndex::alloc(gpu, t)?,
            position_index: GradIndex::alloc(gpu, t)?,
            type_index: GradIndex::alloc(gpu, t)?,
            mlm_inverse: gpu.upload_u32(&vec![u32::MAX; t], "mlm_inverse")?,
            cls_inverse: gpu.upload_u32(bytemuck::cast_slice(&cls_inverse), "cls_inverse")?,
            d_normed: z(&[rows, h], "d_mlm_norm")?,
            d_transformed: z(&[rows, h], "d_mlm_transform")?,
            d_transform_pre: z(&[rows, h], "d_mlm_transform_pre")?,
            d_picked: z(&[rows, h], "d_mlm_hidden")?,
            d_pooled: z(&[batch, h], "d_pooled")?,
            d_pool_pre: z(&[batch, h], "d_pooler_pre")?,
            d_cls: z(&[batch, h], "d_cls")?,
        })
    }

    /// Queues this batch's index uploads: token ids grouped for the embedding gradients, and which
    /// token each MLM row came from. `positions` are the MLM rows' flat token indices.
    pub fn write_indices(
        &self,
        gpu: &Gpu,
        c: &BertConfig,
        ws: &Workspace,
        ids: &[u32],
        types: &[u32],
        positions: &[u32],
    ) -> Result<()> {
        let q = &gpu.queue;
        self.word_index.write_skipping(q, ids, Some(c.pad_token_id as u32))?;
        let t = ws.batch * ws.seq;
        let last_pos = c.max_position_embeddings - 1;
        let pos: Vec<u32> = (0..t).map(|i| (i % ws.seq).min(last_pos) as u32).collect();
        self.position_index.write(q, &pos)?;
        self.type_index.write(q, types)?;
        let inverse = gather::inverse_index(positions, t);
        q.write_buffer(&self.mlm_inverse, 0, bytemuck::cast_slice(&inverse));
        Ok(())
    }
}

impl BackwardBuffers {
    /// (tokens, H) the gradient of the last hidden state, where the backward pass starts.
    pub fn d_last(&self) -> &Tensor {
        &self.d_hidden[0]
    }
}
