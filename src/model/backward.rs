//! The backward pass of BERT: the forward in reverse, call for call, in three parts that the heads
//! combine: a head writes d(last hidden state) (and d(pooled output) for heads on `[CLS]`), then
//! `record_pooler_backward` and `record_encoder_backward` take it to every parameter. Parameter gradients
//! accumulate (+=) into a `Weights` of gradients; activation gradients are written.

use super::heads::MlmActs;
use super::BackwardBuffers;
use super::{Bert, Dropout, Weights, Workspace};
use crate::gpu::{Recorder, Tensor};
use crate::ops::matmul::{self, Dims, Epilogue, Form, Operand};
use crate::ops::{attention, dropout, embedding, gather, gelu, layernorm, Act};

impl Bert {
    /// Records the backward pass of pretraining. Expects `mlm.logits` and `ws.nsp_logits` to already hold
    /// d(loss)/d(logits) (the cross-entropy backward writes them in place) and accumulates every parameter
    /// gradient into `g`.
    pub fn record_backward(
        &self,
        rec: &mut Recorder,
        ws: &Workspace,
        mlm: &MlmActs,
        bb: &BackwardBuffers,
        g: &Weights,
        dropout: Option<Dropout>,
    ) {
        self.record_mlm_backward(rec, mlm, bb, g);
        if let (Some(nsp), Some(gnsp)) = (&self.weights.nsp, &g.nsp) {
            let nb = Some(&gnsp.bias);
            let (pooled, dl) = (&ws.pooled, &ws.nsp_logits);
            matmul::linear_backward(
                rec,
                pooled,
                &nsp.weight,
                dl,
                Some(&bb.d_pooled),
                false,
                &gnsp.weight,
                nb,
            );
            self.record_pooler_backward(rec, ws, bb, g, true);
        }
        self.record_encoder_backward(rec, ws, bb, g, dropout);
    }

    /// The MLM head's backward from d(logits) in `mlm.logits` to `bb.d_last()` (written, 0 on rows the
    /// head did not pick) and the head's parameter gradients.
    fn record_mlm_backward(&self, rec: &mut Recorder, mlm: &MlmActs, bb: &BackwardBuffers, g: &Weights) {
        let c = &self.config;
        let w = &self.weights;
        let (head, ghead) = (w.mlm.as_ref().unwrap(), g.mlm.as_ref().unwrap());
        let last = &bb.d_hidden[0];

        // MLM head: decoder (tied to the word embeddings: its gradient adds into theirs), LayerNorm,
        // activation, dense; then back to the hidden rows it was gathered from.
        let d_decoder = ghead.untied_decoder.as_ref().unwrap_or(&g.embeddings.word);
        let (dl, bias_grad) = (&mlm.logits, Some(&ghead.bias));
        matmul::linear_backward(
            rec,
            &mlm.normed,
            self.decoder(),
            dl,
            Some(&bb.d_normed),
            false,
            d_decoder,
            bias_grad,
        );
        let (tr, m, r) = (&mlm.transformed, &mlm.mean, &mlm.rstd);
        layernorm::backward(
            rec,
            &bb.d_normed,
            tr,
            None,
            &head.ln_weight,
            m,
            r,
            &bb.d_transformed,
            None,
        );
        layernorm::backward_params(rec, &bb.d_normed, tr, None, m, r, &ghead.ln_weight, &ghead.ln_bias);
        let pre = mlm
            .transform_pre
            .as_ref()
            .expect("MLM activations were recorded for training");
        gelu::backward(rec, pre, &bb.d_transformed, &bb.d_transform_pre, c.act());
        let (tw, tb) = (&ghead.transform_weight, Some(&ghead.transform_bias));
        matmul::linear_backward(
            rec,
            &mlm.picked,
            &head.transform_weight,
            &bb.d_transform_pre,
            Some(&bb.d_picked),
            false,
            tw,
            tb,
        );
        gather::backward(rec, &bb.mlm_inverse, &bb.d_picked, last, false);
    }

    /// The pooler's backward (dense + tanh on `[CLS]`) from `bb.d_pooled` into the `[CLS]` rows of
    /// `bb.d_last()`: added to what a head wrote there with `accumulate`, else written (0 on other rows).
    pub fn record_pooler_backward(
        &self,
        rec: &mut Recorder,
        ws: &Workspace,
        bb: &BackwardBuffers,
        g: &Weights,
        accumulate: bool,
    ) {
        let (w, last) = (&self.weights, &bb.d_hidden[0]);
        if let (Some(pool), Some(gpool)) = (&w.pooler, &g.pooler) {
            let pre = ws
                .pool_pre
                .as_ref()
                .expect("pooler activations were recorded for training");
            gelu::backward(rec, pre, &bb.d_pooled, &bb.d_pool_pre, Act::Tanh);
            let pb = Some(&gpool.bias);
            matmul::linear_backward(
                rec,
                &ws.cls,
                &pool.weight,
                &bb.d_pool_pre,
                Some(&bb.d_cls),
                false,
                &gpool.weight,
                pb,
            );
            gather::backward(rec, &bb.cls_inverse, &bb.d_cls, last, accumulate);
        }
    }

    /// The encoder's backward from d(last hidden state) in `bb.d_last()` to every encoder and embedding
    /// parameter gradient.
    pub fn record_encoder_backward(
        &self,
        rec: &mut Recorder,
        ws: &Workspace,
        bb: &BackwardBuffers,
        g: &Weights,
        dropout: Option<Dropout>,
    ) {
        let (c, w) = (&self.config, &self.weights);

        // Encoder layers in reverse. With dropout, a LayerNorm's input gradient is that of the dropped
        // projection; `undrop` takes it back through the same mask to the projection itself.
        let undrop = |rec: &mut Recorder, grad: &'_ Tensor, p: f32, site: u32| -> bool {
            match dropout {
                Some(d) if p > 0.0 => {
                    dropout::backward(rec, grad, &bb.d_drop, p, d.seed, site);
                    true
                }
                _ => false,
            }
        };
        let shape = ws.shape(c);
        let mut cur = 0;
        for l in (0..w.layers.len()).rev() {
            let (layer, gl, a) = (&w.layers[l], &g.layers[l], ws.layer(l));
            let (dout, dinp) = (&bb.d_hidden[cur], &bb.d_hidden[1 - cur]);
            let x = &ws.hidden[l];
            let site = 1 + 3 * l as u32;
            let dropped = a.dropped.as_ref().filter(|_| dropout.is_some());
            let hidden_p = dropout.map_or(0.0, |d| d.hidden);

            // hidden[l + 1] = LayerNorm(drop(ffn_out) + attn_norm)
            let (m, r) = &ws.ln_stats[2 + 2 * l];
            let ffn_out = dropped.map_or(&a.ffn_out, |d| &d.ffn_out);
            let (res, lw) = (Some(&a.attn_norm), &layer.out_ln_weight);
            layernorm::backward(rec, dout, ffn_out, res, lw, m, r, &bb.dz2, Some(&bb.d_attn_norm));
            layernorm::backward_params(rec, dout, ffn_out, res, m, r, &gl.out_ln_weight, &gl.out_ln_bias);
            let d_ffn = if dropped.is_some() && undrop(rec, &bb.dz2, hidden_p, site + 2) {
                &bb.d_drop
            } else {
                &bb.dz2
            };
            // ffn_out = inter . W_out^T + b; inter = act(inter_pre); inter_pre = attn_norm . W_in^T + b
            let ob = Some(&gl.out_bias);
            matmul::linear_backward(
                rec,
                &a.inter,
                &layer.out_weight,
                d_ffn,
                Some(&bb.d_inter),
                false,
                &gl.out_weight,
                ob,
            );
            let inter_pre = a
                .inter_pre
                .as_ref()
                .expect("layer activations were recorded for training");
            gelu::backward(rec, inter_pre, &bb.d_inter, &bb.d_inter_pre, c.act());
            let (ib, d_an) = (Some(&gl.inter_bias), Some(&bb.d_attn_norm));
            let (iw, giw) = (&layer.inter_weight, &gl.inter_weight);
            matmul::linear_backward(rec, &a.attn_norm, iw, &bb.d_inter_pre, d_an, true, giw, ib);

            // attn_norm = LayerNorm(drop(attn_proj) + x); x's residual gradient goes to dinp.
            let (m, r) = &ws.ln_stats[1 + 2 * l];
            let attn_proj = dropped.map_or(&a.attn_proj, |d| &d.attn_proj);
            let (dan, lw) = (&bb.d_attn_norm, &layer.attn_ln_weight);
            layernorm::backward(rec, dan, attn_proj, Some(x), lw, m, r, &bb.dz1, Some(dinp));
            layernorm::backward_params(rec, dan, attn_proj, Some(x), m, r, &gl.attn_ln_weight, &gl.attn_ln_bias);
            let d_proj = if dropped.is_some() && undrop(rec, &bb.dz1, hidden_p, site + 1) {
                &bb.d_drop
            } else {
                &bb.dz1
            };
            // attn_proj = ctx . W_ao^T + b
            let ab = Some(&gl.attn_out_bias);
            let (aw, gaw) = (&layer.attn_out_weight, &gl.attn_out_weight);
            matmul::linear_backward(rec, &a.ctx, aw, d_proj, Some(&bb.d_ctx), false, gaw, ab);
            let attention_dropout = match (dropped, dropout) {
                (Some(d), Some(drop)) if drop.attention > 0.0 => Some((&d.probs, drop.attention, drop.seed, site)),
                _ => None,
            };
            attention_backward(rec, shape, &a.qkv, &ws.probs[l], attention_dropout, bb);
            // qkv = x . W_qkv^T + b
            let qb = Some(&gl.qkv_bias);
            matmul::linear_backward(
                rec,
                x,
                &layer.qkv_weight,
                &bb.d_qkv,
                Some(dinp),
                true,
                &gl.qkv_weight,
                qb,
            );
            cur = 1 - cur;
        }

        // hidden[0] = drop(LayerNorm(word + position + token type))
        let e = &w.embeddings;
        let ge = &g.embeddings;
        let dh0 = match (&ws.emb_norm, dropout) {
            (Some(_), Some(d)) if undrop(rec, &bb.d_hidden[cur], d.hidden, 0) => &bb.d_drop,
            _ => &bb.d_hidden[cur],
        };
        let (m, r) = &ws.ln_stats[0];
        layernorm::backward(rec, dh0, &ws.emb, None, &e.ln_weight, m, r, &bb.d_emb, None);
        layernorm::backward_params(rec, dh0, &ws.emb, None, m, r, &ge.ln_weight, &ge.ln_bias);
        embedding::backward(rec, &bb.word_index, &bb.d_emb, &ge.word);
        embedding::backward(rec, &bb.position_index, &bb.d_emb, &ge.position);
        embedding::backward(rec, &bb.type_index, &bb.d_emb, &ge.token_type);
    }
}

/// Attention's backward from d(context) in `bb.d_ctx` to d(Q | K | V) in `bb.d_qkv`:
/// dP = dO.V^T, dV = P^T.dO, dS = softmax backward of dP, dQ = dS.K / sqrt(d), dK = dS^T.Q / sqrt(d).
/// With attention dropout (dropped probabilities, p, seed, site), P.V used the dropped P: dV uses it too
/// and dP passes back through the same mask before the softmax backward.
fn attention_backward(
    rec: &mut Recorder,
    s: attention::Shape,
    qkv: &Tensor,
    probs: &Tensor,
    dropout: Option<(&Tensor, f32, u32, u32)>,
    bb: &BackwardBuffers,
) {
    let hidden = s.heads * s.head_dim;
    let seq_sq = s.seq * s.seq;
    let per_head = |buf, off, rs| Operand {
        buf,
        off,
        rs,
        so: s.seq * rs,
        si: s.head_dim,
        zero_tail: false,
    };
    let (q, k, v) = (
        per_head(&qkv.buf, 0, 3 * hidden),
        per_head(&qkv.buf, hidden, 3 * hidden),
        per_head(&qkv.buf, 2 * hidden, 3 * hidden),
    );
    let dq = per_head(&bb.d_qkv.buf, 0, 3 * hidden);
    let dk = per_head(&bb.d_qkv.buf, hidden, 3 * hidden);
    let dv = per_head(&bb.d_qkv.buf, 2 * hidden, 3 * hidden);
    let d_ctx = per_head(&bb.d_ctx.buf, 0, hidden);
    let square = |buf| Operand {
        buf,
        off: 0,
        rs: s.seq,
        so: s.heads * seq_sq,
        si: seq_sq,
        zero_tail: false,
    };
    let batched = |m, n, k| Dims {
        m,
        n,
        k,
        batch_outer: s.batch,
        batch_inner: s.heads,
    };
    let plain = Epilogue::default();
    let scaled = Epilogue {
        alpha: 1.0 / (s.head_dim as f32).sqrt(),
        ..Default::default()
    };
    let dp = square(&bb.d_probs.buf);
    // With dropout, P.V used the dropped probabilities: dV uses them too, and dP arrives for them first.
    let dropped = dropout.zip(bb.d_probs_drop.as_ref());
    let (p_used, dp_used) = match dropped {
        Some(((p, ..), d)) => (square(&p.buf), square(&d.buf)),
        None => (square(&probs.buf), dp),
    };
    matmul::forward(
        rec,
        Form::Nt,
        batched(s.seq, s.seq, s.head_dim),
        d_ctx,
        v,
        dp_used,
        plain,
    );
    matmul::forward(
        rec,
        Form::Tn,
        batched(s.seq, s.head_dim, s.seq),
        p_used,
        d_ctx,
        dv,
        plain,
    );
    if let Some(((_, p, seed, site), d)) = dropped {
        dropout::backward(rec, d, &bb.d_probs, p, seed, site);
    }
    attention::softmax_backward(rec, s.batch * s.heads * s.seq, s.seq, probs, &bb.d_probs);
    matmul::forward(rec, Form::Nn, batched(s.seq, s.head_dim, s.seq), dp, k, dq, scaled);
    matmul::forward(rec, Form::Tn, batched(s.seq, s.head_dim, s.seq), dp, q, dk, scaled);
}
