//! BERT: configuration, weights and the forward pass (embeddings, encoder layers, pooler, MLM and NSP
//! heads), recorded into one submit.

pub mod backward;
pub mod config;
pub mod heads;
mod save;
pub mod task;
pub mod weights;

use std::cell::RefCell;
use std::rc::Rc;

pub use config::BertConfig;
pub use weights::Weights;

use crate::error::{Error, ErrorKind, Result};
use crate::gpu::{Gpu, Recorder, Tensor};
use crate::io::ModelFiles;
use crate::ops::attention::{self, Shape};
use crate::ops::embedding::{self, TokenIds};
use crate::ops::{dropout, gelu};
use crate::ops::{gather, layernorm, matmul, Act};
use crate::tokenizer::{BertTokenizer, Encoding};

/// A loaded model: config, GPU weights, tokenizer, and the activations of the last batch shape.
pub struct Bert {
    pub gpu: Rc<Gpu>,
    pub config: BertConfig,
    pub weights: Weights,
    pub tokenizer: BertTokenizer,
    /// The tokenizer files as loaded (tokenizer.json, vocab.txt, configs), written back unchanged on save.
    pub tokenizer_files: ModelFiles,
    workspace: RefCell<Option<Rc<Workspace>>>,
}

/// Token ids of a padded batch, host side. `seq` is a multiple of 4 (the kernels read vec4 rows).
#[derive(Clone, Debug)]
pub struct Batch {
    pub batch: usize,
    pub seq: usize,
    pub ids: Vec<u32>,   // (batch, seq)
    pub types: Vec<u32>, // (batch, seq) token type (segment) ids
    pub mask: Vec<f32>,  // (batch, seq) 1 token, 0 padding
    /// Real (unpadded) length of each sequence.
    pub lengths: Vec<usize>,
}

impl Batch {
    /// Pads encodings to a common length rounded up to a multiple of 4.
    pub fn new(encodings: &[Encoding], pad_id: u32) -> Batch {
        let seq = encodings
            .iter()
            .map(|e| e.ids.len())
            .max()
            .unwrap_or(1)
            .next_multiple_of(4);
        let sequences = encodings.iter().map(|e| (&e.ids[..], &e.type_ids[..]));
        Batch::from_sequences(sequences, pad_id, seq, encodings.len())
    }

    /// Sequences of (token ids, type ids) padded with `pad_id` to `seq` positions (at least the longest) in
    /// `batch` rows (at least one per sequence; rows past the sequences are all padding).
    pub fn from_sequences<'a>(
        sequences: impl IntoIterator<Item = (&'a [u32], &'a [u32])>,
        pad_id: u32,
        seq: usize,
        batch: usize,
    ) -> Batch {
        let n = batch * seq;
        let mut b = Batch {
            batch,
            seq,
            ids: vec![pad_id; n],
            types: vec![0; n],
            mask: vec![0.0; n],
            lengths: vec![0; batch],
        };
        for (i, (ids, types)) in sequences.into_iter().enumerate() {
            let row = i * seq;
            b.ids[row..row + ids.len()].copy_from_slice(ids);
            b.types[row..row + types.len()].copy_from_slice(types);
            b.mask[row..row + ids.len()].fill(1.0);
            b.lengths[i] = ids.len();
        }
        b
    }

    pub fn tokens(&self) -> usize {
        self.batch * self.seq
    }
}

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
    /// hidden[0] = embeddings output, hidden[l + 1] = output of layer l; each (tokens, H).
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
    fn new(
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

/// BERT's two output blocks (Hugging Face's BertSelfOutput and BertOutput): a dense projection, dropout
/// when training, then LayerNorm of the result plus the block's input.
struct OutputBlock<'a> {
    weight: &'a Tensor,
    bias: &'a Tensor,
    ln_weight: &'a Tensor,
    ln_bias: &'a Tensor,
}

impl OutputBlock<'_> {
    /// proj (tokens, H) = inp . weight^T + bias; out = LayerNorm(drop(proj) + residual), its mean and rstd
    /// in `stats`. `dropped` is where the dropped projection goes, the step's dropout and the site.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        rec: &mut Recorder,
        inp: &Tensor,
        proj: &Tensor,
        dropped: Option<(&Tensor, Dropout, u32)>,
        residual: &Tensor,
        eps: f32,
        out: &Tensor,
        (mean, rstd): &(Tensor, Tensor),
    ) {
        matmul::linear(rec, inp, self.weight, Some(self.bias), Act::None, proj);
        let normed_input = match dropped {
            Some((buf, d, site)) => {
                dropout::forward(rec, proj, buf, d.hidden, d.seed, site);
                buf
            }
            None => proj,
        };
        layernorm::forward(
            rec,
            normed_input,
            Some(residual),
            self.ln_weight,
            self.ln_bias,
            eps,
            out,
            mean,
            rstd,
        );
    }
}

impl Bert {
    /// Loads a Hugging Face model directory from its bytes.
    pub fn load(gpu: Rc<Gpu>, files: &ModelFiles) -> Result<Bert> {
        let config = BertConfig::from_json(&files.config)?;
        let tokenizer = BertTokenizer::from_files(
            files.tokenizer_json.as_deref(),
            files.vocab_txt.as_deref(),
            files.tokenizer_config.as_deref(),
        )
        .map_err(Error::in_file)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::of(
                ErrorKind::BadFile,
                format!(
                    "tokenizer has {} tokens but config.json vocab_size is {}",
                    tokenizer.vocab_size(),
                    config.vocab_size
                ),
            ));
        }
        let weights = Weights::from_safetensors(&gpu, &config, &files.weights, "model.safetensors")?;
        let tokenizer_files = ModelFiles {
            config: Vec::new(),
            weights: Vec::new(),
            ..files.clone()
        };
        Ok(Bert {
            gpu,
            config,
            weights,
            tokenizer,
            tokenizer_files,
            workspace: RefCell::new(None),
        })
    }

    /// A model from parts already built (e.g. freshly initialised weights).
    pub fn from_parts(
        gpu: Rc<Gpu>,
        config: BertConfig,
        weights: Weights,
        tokenizer: BertTokenizer,
        tokenizer_files: ModelFiles,
    ) -> Bert {
        Bert {
            gpu,
            config,
            weights,
            tokenizer,
            tokenizer_files,
            workspace: RefCell::new(None),
        }
    }

    /// Frees the cached activations (the next forward allocates what it needs).
    pub fn release_workspace(&self) {
        self.workspace.borrow_mut().take();
    }

    /// The workspace for a batch shape, reusing the last one when the shape is the same.
    pub fn workspace(
        &self,
        batch: usize,
        seq: usize,
        training: bool,
        attention: AttentionMode,
    ) -> Result<Rc<Workspace>> {
        let mut slot = self.workspace.borrow_mut();
        if let Some(ws) = slot.as_ref() {
            if ws.batch == batch && ws.seq == seq && ws.training == training && ws.attention == attention {
                return Ok(ws.clone());
            }
        }
        *slot = None; // release the old activations first
        let ws = Rc::new(Workspace::new(
            &self.gpu,
            &self.config,
            batch,
            seq,
            training,
            attention,
        )?);
        *slot = Some(ws.clone());
        Ok(ws)
    }

    /// Uploads a batch and records embeddings, encoder and (when the model has them) pooler and NSP head,
    /// for inference.
    pub fn record_forward(&self, rec: &mut Recorder, batch: &Batch) -> Result<Rc<Workspace>> {
        self.record(rec, batch, false, AttentionMode::Auto, None)
    }

    /// [`Bert::record_forward`] that keeps every layer's attention probabilities in `probs` (the
    /// unfused attention: scores, softmax, then P.V).
    pub fn record_forward_attentions(&self, rec: &mut Recorder, batch: &Batch) -> Result<Rc<Workspace>> {
        self.record(rec, batch, false, AttentionMode::KeepProbabilities, None)
    }

    /// Inference with a given attention implementation (benchmarks and tests).
    pub fn record_forward_mode(&self, rec: &mut Recorder, batch: &Batch, mode: AttentionMode) -> Result<Rc<Workspace>> {
        self.record(rec, batch, false, mode, None)
    }

    /// The forward pass; `training` keeps every layer's activations for the backward pass, and `dropout`
    /// (training only) applies the config's dropout as Hugging Face's train mode does.
    pub fn record_forward_with(
        &self,
        rec: &mut Recorder,
        batch: &Batch,
        training: bool,
        dropout: Option<Dropout>,
    ) -> Result<Rc<Workspace>> {
        self.record(rec, batch, training, AttentionMode::KeepProbabilities, dropout)
    }

    fn record(
        &self,
        rec: &mut Recorder,
        batch: &Batch,
        training: bool,
        attention: AttentionMode,
        dropout: Option<Dropout>,
    ) -> Result<Rc<Workspace>> {
        let c = &self.config;
        self.check_batch(batch)?;
        let attention = if training {
            AttentionMode::KeepProbabilities
        } else {
            attention
        };
        let ws = self.workspace(batch.batch, batch.seq, training, attention)?;
        let q = &self.gpu.queue;
        q.write_buffer(&ws.ids, 0, bytemuck::cast_slice(&batch.ids));
        q.write_buffer(&ws.types, 0, bytemuck::cast_slice(&batch.types));
        q.write_buffer(&ws.mask.buf, 0, bytemuck::cast_slice(&batch.mask));

        let w = &self.weights;
        let eps = c.layer_norm_eps as f32;
        let e = &w.embeddings;
        let tokens = TokenIds {
            ids: &ws.ids,
            positions: &ws.positions,
            types: &ws.types,
        };
        embedding::forward(rec, &tokens, &e.word, &e.position, &e.token_type, &ws.emb);
        let (m, r) = &ws.ln_stats[0];
        let dropout = dropout.filter(|_| ws.emb_norm.is_some());
        match (dropout, &ws.emb_norm) {
            (Some(d), Some(pre)) => {
                layernorm::forward(rec, &ws.emb, None, &e.ln_weight, &e.ln_bias, eps, pre, m, r);
                dropout::forward(rec, pre, &ws.hidden[0], d.hidden, d.seed, 0);
            }
            _ => layernorm::forward(rec, &ws.emb, None, &e.ln_weight, &e.ln_bias, eps, &ws.hidden[0], m, r),
        }

        let shape = ws.shape(c);
        for (l, layer) in w.layers.iter().enumerate() {
            let (x, a) = (&ws.hidden[l], ws.layer(l));
            let site = 1 + 3 * l as u32;
            let drop = dropout.zip(a.dropped.as_ref());
            matmul::linear(rec, x, &layer.qkv_weight, Some(&layer.qkv_bias), Act::None, &a.qkv);
            let dropped_probs = drop.map(|(d, acts)| attention::Dropped {
                out: &acts.probs,
                p: d.attention,
                seed: d.seed,
                stream: site,
            });
            match ws.probs.get(l).or(ws.probs.first()) {
                Some(probs) => attention::forward(rec, shape, &a.qkv, &ws.mask, probs, &a.ctx, dropped_probs),
                None => attention::fused_forward(rec, shape, &a.qkv, &ws.mask, &a.ctx),
            }
            let attention_output = OutputBlock {
                weight: &layer.attn_out_weight,
                bias: &layer.attn_out_bias,
                ln_weight: &layer.attn_ln_weight,
                ln_bias: &layer.attn_ln_bias,
            };
            let dropped = drop.map(|(d, acts)| (&acts.attn_proj, d, site + 1));
            let stats = &ws.ln_stats[1 + 2 * l];
            attention_output.record(rec, &a.ctx, &a.attn_proj, dropped, x, eps, &a.attn_norm, stats);
            let (iw, ib) = (&layer.inter_weight, Some(&layer.inter_bias));
            match &a.inter_pre {
                // Training keeps the pre-activation for GELU's backward.
                Some(pre) => {
                    matmul::linear(rec, &a.attn_norm, iw, ib, Act::None, pre);
                    gelu::forward(rec, pre, &a.inter, c.act());
                }
                None => matmul::linear(rec, &a.attn_norm, iw, ib, c.act(), &a.inter),
            }
            let output = OutputBlock {
                weight: &layer.out_weight,
                bias: &layer.out_bias,
                ln_weight: &layer.out_ln_weight,
                ln_bias: &layer.out_ln_bias,
            };
            let dropped = drop.map(|(d, acts)| (&acts.ffn_out, d, site + 2));
            let stats = &ws.ln_stats[2 + 2 * l];
            output.record(
                rec,
                &a.inter,
                &a.ffn_out,
                dropped,
                &a.attn_norm,
                eps,
                &ws.hidden[l + 1],
                stats,
            );
        }

        if let Some(p) = &w.pooler {
            gather::forward(rec, &ws.cls_index, ws.last_hidden(), &ws.cls);
            match &ws.pool_pre {
                Some(pre) => {
                    matmul::linear(rec, &ws.cls, &p.weight, Some(&p.bias), Act::None, pre);
                    gelu::forward(rec, pre, &ws.pooled, Act::Tanh);
                }
                None => matmul::linear(rec, &ws.cls, &p.weight, Some(&p.bias), Act::Tanh, &ws.pooled),
            }
            if let Some(n) = &w.nsp {
                matmul::linear(rec, &ws.pooled, &n.weight, Some(&n.bias), Act::None, &ws.nsp_logits);
            }
        }
        Ok(ws)
    }

    fn check_batch(&self, batch: &Batch) -> Result<()> {
        let c = &self.config;
        let longest = batch.lengths.iter().copied().max().unwrap_or(0);
        if longest > c.max_position_embeddings {
            return Err(Error::new(format!(
                "sequence length {longest} exceeds max_position_embeddings {}",
                c.max_position_embeddings
            )));
        }
        if let Some(&bad) = batch.ids.iter().find(|&&id| id as usize >= c.vocab_size) {
            return Err(Error::new(format!(
                "token id {bad} is outside the vocabulary ({})",
                c.vocab_size
            )));
        }
        if let Some(&bad) = batch.types.iter().find(|&&ty| ty as usize >= c.type_vocab_size) {
            return Err(Error::new(format!(
                "token type id {bad} is outside type_vocab_size ({})",
                c.type_vocab_size
            )));
        }
        Ok(())
    }

    /// Encodes texts (with an optional pair each) and pads them into a batch, truncating at
    /// max_position_embeddings. Returns the batch and, per text, whether it was truncated.
    pub fn encode_batch(&self, texts: &[&str], pairs: Option<&[&str]>) -> Result<(Batch, Vec<Encoding>, Vec<bool>)> {
        let mut encodings = Vec::with_capacity(texts.len());
        let mut truncated = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let pair = pairs.map(|p| p[i]);
            let enc = self.tokenizer.encode(text, pair)?;
            let (enc, cut) = self.tokenizer.truncate(enc, self.config.max_position_embeddings);
            encodings.push(enc);
            truncated.push(cut);
        }
        Ok((Batch::new(&encodings, self.tokenizer.pad_id()), encodings, truncated))
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
    let (h, i, v) = (c.hidden_size as u64, c.intermediate_size as u64, c.vocab_size as u64);
    let (b, s, heads) = (batch as u64, seq as u64, c.num_attention_heads as u64);
    let product = |xs: &[u64]| xs.iter().fold(1u64, |n, &x| n.saturating_mul(x));
    // (what, f32 values, whether it is an activation: a smaller batch or sequence shrinks it)
    let tensors = [
        (
            "bert.embeddings.word_embeddings.weight (vocab_size x hidden_size)",
            product(&[v, h]),
            false,
        ),
        (
            "bert.embeddings.position_embeddings.weight",
            product(&[c.max_position_embeddings as u64, h]),
            false,
        ),
        (
            "the fused query/key/value weight (3 x hidden_size x hidden_size)",
            product(&[3, h, h]),
            false,
        ),
        (
            "intermediate.dense.weight (intermediate_size x hidden_size)",
            product(&[i, h]),
            false,
        ),
        (
            "the intermediate activations (tokens x intermediate_size)",
            product(&[b, s, i]),
            true,
        ),
        (
            "the attention probabilities (batch x heads x seq x seq)",
            product(&[b, heads, s, s]),
            true,
        ),
    ];
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
