//! BERT: configuration, weights and the forward pass (embeddings, encoder layers, pooler, MLM and NSP
//! heads), recorded into one submit.

pub mod config;
mod save;
pub mod weights;

use std::cell::RefCell;
use std::rc::Rc;

pub use config::BertConfig;
pub use weights::Weights;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Recorder, Tensor};
use crate::io::ModelFiles;
use crate::ops::attention::{self, Shape};
use crate::ops::embedding::{self, TokenIds};
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
        let lengths: Vec<usize> = encodings.iter().map(|e| e.ids.len()).collect();
        let seq = lengths.iter().copied().max().unwrap_or(1).next_multiple_of(4);
        let batch = encodings.len();
        let mut ids = vec![pad_id; batch * seq];
        let mut types = vec![0; batch * seq];
        let mut mask = vec![0.0; batch * seq];
        for (b, e) in encodings.iter().enumerate() {
            for (s, (&id, &ty)) in e.ids.iter().zip(&e.type_ids).enumerate() {
                ids[b * seq + s] = id;
                types[b * seq + s] = ty;
                mask[b * seq + s] = 1.0;
            }
        }
        Batch {
            batch,
            seq,
            ids,
            types,
            mask,
            lengths,
        }
    }

    pub fn tokens(&self) -> usize {
        self.batch * self.seq
    }
}

/// Activations for one (batch, seq) shape, allocated once and reused while the shape stays.
pub struct Workspace {
    pub batch: usize,
    pub seq: usize,
    ids: wgpu::Buffer,       // (tokens) u32
    positions: wgpu::Buffer, // (tokens) u32
    types: wgpu::Buffer,     // (tokens) u32
    pub mask: Tensor,        // (batch, seq)
    emb: Tensor,             // (tokens, H) embedding sum before LayerNorm
    /// hidden[0] = embeddings output, hidden[l + 1] = output of layer l; each (tokens, H).
    pub hidden: Vec<Tensor>,
    /// Attention probabilities of each layer, (batch, heads, seq, seq).
    pub probs: Vec<Tensor>,
    ln_stats: Vec<(Tensor, Tensor)>, // (mean, rstd) per LayerNorm, each (tokens)
    qkv: Tensor,                     // (tokens, 3H)
    ctx: Tensor,                     // (tokens, H)
    attn_proj: Tensor,               // (tokens, H)
    attn_norm: Tensor,               // (tokens, H) LayerNorm(attention output + input)
    inter: Tensor,                   // (tokens, I)
    ffn_out: Tensor,                 // (tokens, H)
    cls_index: wgpu::Buffer,         // (batch) u32: row of each [CLS]
    cls: Tensor,                     // (batch, H)
    pub pooled: Tensor,              // (batch, H)
    pub nsp_logits: Tensor,          // (batch, 2)
}

impl Workspace {
    fn new(gpu: &Gpu, c: &BertConfig, batch: usize, seq: usize) -> Result<Workspace> {
        let (h, t) = (c.hidden_size, batch * seq);
        let z = |shape: &[usize], name: &str| gpu.zeros(shape, name);
        // Padding slots past the table (seq is rounded up to a multiple of 4) reuse its last row.
        let last_pos = c.max_position_embeddings - 1;
        let positions: Vec<u32> = (0..t).map(|i| (i % seq).min(last_pos) as u32).collect();
        let cls_rows: Vec<u32> = (0..batch).map(|b| (b * seq) as u32).collect();
        let layers = c.num_hidden_layers;
        Ok(Workspace {
            batch,
            seq,
            ids: gpu.upload_u32(&vec![0; t], "input_ids")?,
            positions: gpu.upload_u32(&positions, "position_ids")?,
            types: gpu.upload_u32(&vec![0; t], "token_type_ids")?,
            mask: z(&[batch, seq], "attention_mask")?,
            emb: z(&[t, h], "embedding_sum")?,
            hidden: (0..=layers)
                .map(|l| z(&[t, h], &format!("hidden_states.{l}")))
                .collect::<Result<_>>()?,
            probs: (0..layers)
                .map(|l| z(&[batch, c.num_attention_heads, seq, seq], &format!("attentions.{l}")))
                .collect::<Result<_>>()?,
            ln_stats: (0..1 + 2 * layers)
                .map(|_| Ok((z(&[t], "ln_mean")?, z(&[t], "ln_rstd")?)))
                .collect::<Result<_>>()?,
            qkv: z(&[t, 3 * h], "qkv")?,
            ctx: z(&[t, h], "context")?,
            attn_proj: z(&[t, h], "attention_projection")?,
            attn_norm: z(&[t, h], "attention_output")?,
            inter: z(&[t, c.intermediate_size], "intermediate")?,
            ffn_out: z(&[t, h], "ffn_output")?,
            cls_index: gpu.upload_u32(&cls_rows, "cls_index")?,
            cls: z(&[batch, h], "cls")?,
            pooled: z(&[batch, h], "pooled_output")?,
            nsp_logits: z(&[batch, 2], "nsp_logits")?,
        })
    }

    /// The last hidden state, (tokens, H).
    pub fn last_hidden(&self) -> &Tensor {
        self.hidden.last().unwrap()
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
        )?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error(format!(
                "tokenizer has {} tokens but config.json vocab_size is {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let tensors = crate::io::safetensors::load(&files.weights, "model.safetensors")?;
        let weights = Weights::from_host(&gpu, &config, tensors, "model.safetensors")?;
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

    /// The workspace for a batch shape, reusing the last one when the shape is the same.
    pub fn workspace(&self, batch: usize, seq: usize) -> Result<Rc<Workspace>> {
        let mut slot = self.workspace.borrow_mut();
        if let Some(ws) = slot.as_ref() {
            if ws.batch == batch && ws.seq == seq {
                return Ok(ws.clone());
            }
        }
        *slot = None; // release the old activations first
        let ws = Rc::new(Workspace::new(&self.gpu, &self.config, batch, seq)?);
        *slot = Some(ws.clone());
        Ok(ws)
    }

    /// Uploads a batch and records embeddings, encoder and (when the model has them) pooler and NSP head.
    pub fn record_forward(&self, rec: &mut Recorder, batch: &Batch) -> Result<Rc<Workspace>> {
        let c = &self.config;
        let longest = batch.lengths.iter().copied().max().unwrap_or(0);
        if longest > c.max_position_embeddings {
            return Err(Error(format!(
                "sequence length {longest} exceeds max_position_embeddings {}",
                c.max_position_embeddings
            )));
        }
        if let Some(&bad) = batch.ids.iter().find(|&&id| id as usize >= c.vocab_size) {
            return Err(Error(format!(
                "token id {bad} is outside the vocabulary ({})",
                c.vocab_size
            )));
        }
        if let Some(&bad) = batch.types.iter().find(|&&ty| ty as usize >= c.type_vocab_size) {
            return Err(Error(format!(
                "token type id {bad} is outside type_vocab_size ({})",
                c.type_vocab_size
            )));
        }
        let ws = self.workspace(batch.batch, batch.seq)?;
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
        layernorm::forward(rec, &ws.emb, None, &e.ln_weight, &e.ln_bias, eps, &ws.hidden[0], m, r);

        let shape = Shape {
            batch: batch.batch,
            seq: batch.seq,
            heads: c.num_attention_heads,
            head_dim: c.head_dim(),
        };
        for (l, layer) in w.layers.iter().enumerate() {
            let x = &ws.hidden[l];
            matmul::linear(rec, x, &layer.qkv_weight, Some(&layer.qkv_bias), Act::None, &ws.qkv);
            attention::forward(rec, shape, &ws.qkv, &ws.mask, &ws.probs[l], &ws.ctx);
            matmul::linear(
                rec,
                &ws.ctx,
                &layer.attn_out_weight,
                Some(&layer.attn_out_bias),
                Act::None,
                &ws.attn_proj,
            );
            let (m, r) = &ws.ln_stats[1 + 2 * l];
            layernorm::forward(
                rec,
                &ws.attn_proj,
                Some(x),
                &layer.attn_ln_weight,
                &layer.attn_ln_bias,
                eps,
                &ws.attn_norm,
                m,
                r,
            );
            matmul::linear(
                rec,
                &ws.attn_norm,
                &layer.inter_weight,
                Some(&layer.inter_bias),
                c.act(),
                &ws.inter,
            );
            matmul::linear(
                rec,
                &ws.inter,
                &layer.out_weight,
                Some(&layer.out_bias),
                Act::None,
                &ws.ffn_out,
            );
            let (m, r) = &ws.ln_stats[2 + 2 * l];
            let out = &ws.hidden[l + 1];
            layernorm::forward(
                rec,
                &ws.ffn_out,
                Some(&ws.attn_norm),
                &layer.out_ln_weight,
                &layer.out_ln_bias,
                eps,
                out,
                m,
                r,
            );
        }

        if let Some(p) = &w.pooler {
            gather::forward(rec, &ws.cls_index, ws.last_hidden(), &ws.cls);
            matmul::linear(rec, &ws.cls, &p.weight, Some(&p.bias), Act::Tanh, &ws.pooled);
            if let Some(n) = &w.nsp {
                matmul::linear(rec, &ws.pooled, &n.weight, Some(&n.bias), Act::None, &ws.nsp_logits);
            }
        }
        Ok(ws)
    }

    /// Records the MLM head on the given rows of the last hidden state (flat indices b * seq + s) and returns
    /// the logits tensor (rows, vocab). Only these rows are projected onto the vocabulary.
    pub fn record_mlm(&self, rec: &mut Recorder, ws: &Workspace, rows: &[u32]) -> Result<Tensor> {
        let Some(head) = &self.weights.mlm else {
            return Err(Error(
                "this model has no masked-language-model head (cls.predictions.*)".into(),
            ));
        };
        let (h, v, n) = (self.config.hidden_size, self.config.vocab_size, rows.len());
        let gpu = &self.gpu;
        let index = gpu.upload_u32(rows, "mlm_rows")?;
        let picked = gpu.zeros(&[n, h], "mlm_hidden")?;
        let transformed = gpu.zeros(&[n, h], "mlm_transform")?;
        let normed = gpu.zeros(&[n, h], "mlm_transform_norm")?;
        let (mean, rstd) = (gpu.zeros(&[n], "mlm_ln_mean")?, gpu.zeros(&[n], "mlm_ln_rstd")?);
        let logits = gpu.zeros(&[n, v], "mlm_logits")?;
        gather::forward(rec, &index, ws.last_hidden(), &picked);
        matmul::linear(
            rec,
            &picked,
            &head.transform_weight,
            Some(&head.transform_bias),
            self.config.act(),
            &transformed,
        );
        let eps = self.config.layer_norm_eps as f32;
        layernorm::forward(
            rec,
            &transformed,
            None,
            &head.ln_weight,
            &head.ln_bias,
            eps,
            &normed,
            &mean,
            &rstd,
        );
        let decoder = head.untied_decoder.as_ref().unwrap_or(&self.weights.embeddings.word);
        matmul::linear(rec, &normed, decoder, Some(&head.bias), Act::None, &logits);
        Ok(logits)
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
