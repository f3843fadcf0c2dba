//! The forward pass: embeddings, encoder layers, pooler and NSP head, recorded into one submit.

use std::rc::Rc;

use super::{AttentionMode, Batch, Bert, Dropout, Workspace};
use crate::error::{Error, Result};
use crate::gpu::{Recorder, Tensor};
use crate::ops::attention;
use crate::ops::embedding::{self, TokenIds};
use crate::ops::{dropout, gelu};
use crate::ops::{gather, layernorm, matmul, Act};
use crate::tokenizer::Encoding;

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
