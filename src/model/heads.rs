//! The pretraining heads on top of the encoder: the MLM head on selected rows (masked positions only),
//! and the activations it needs, sized for a fixed number of rows so a training step allocates nothing.

use super::{Bert, Workspace};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Recorder, Tensor};
use crate::ops::{gather, gelu, layernorm, matmul, Act};

/// Activations of the MLM head for `rows` selected positions.
pub struct MlmActs {
    pub rows: usize,
    pub index: wgpu::Buffer,           // (rows) u32: flat b * seq + s of each selected position
    pub picked: Tensor,                // (rows, H) hidden states at those positions
    pub transform_pre: Option<Tensor>, // (rows, H) dense output before the activation (training only)
    pub transformed: Tensor,           // (rows, H) after the activation
    pub normed: Tensor,                // (rows, H) after the LayerNorm
    pub mean: Tensor,                  // (rows)
    pub rstd: Tensor,                  // (rows)
    /// (rows, stride): vocab logits per row, then zeros up to the stride. Training pads the stride to a
    /// multiple of 4 so that the backward products read the logits four at a time; inference does not.
    /// The backward pass turns the first vocab columns into dlogits in place.
    pub logits: Tensor,
}

impl MlmActs {
    pub fn new(gpu: &Gpu, hidden: usize, vocab: usize, rows: usize, training: bool) -> Result<MlmActs> {
        let z = |shape: &[usize], name: &str| gpu.zeros(shape, name);
        Ok(MlmActs {
            rows,
            index: gpu.upload_u32(&vec![0; rows], "mlm_rows")?,
            picked: z(&[rows, hidden], "mlm_hidden")?,
            transform_pre: if training {
                Some(z(&[rows, hidden], "mlm_transform_pre")?)
            } else {
                None
            },
            transformed: z(&[rows, hidden], "mlm_transform")?,
            normed: z(&[rows, hidden], "mlm_transform_norm")?,
            mean: z(&[rows], "mlm_ln_mean")?,
            rstd: z(&[rows], "mlm_ln_rstd")?,
            logits: z(
                &[rows, if training { vocab.next_multiple_of(4) } else { vocab }],
                "mlm_logits",
            )?,
        })
    }
}

impl Bert {
    /// Records the MLM head on `positions` (flat b * seq + s, at most `acts.rows`; the remaining rows
    /// repeat row 0 and are ignored by the loss). Only these rows are projected onto the vocabulary.
    pub fn record_mlm_into(&self, rec: &mut Recorder, ws: &Workspace, acts: &MlmActs, positions: &[u32]) -> Result<()> {
        let Some(head) = &self.weights.mlm else {
            return Err(Error::new(
                "this model has no masked-language-model head (cls.predictions.*)",
            ));
        };
        if positions.len() > acts.rows {
            return Err(Error::new(format!(
                "{} masked positions exceed the MLM capacity of {}",
                positions.len(),
                acts.rows
            )));
        }
        let mut index = positions.to_vec();
        index.resize(acts.rows, 0);
        self.gpu
            .queue
            .write_buffer(&acts.index, 0, bytemuck::cast_slice(&index));
        gather::forward(rec, &acts.index, ws.last_hidden(), &acts.picked);
        let (w, b) = (&head.transform_weight, Some(&head.transform_bias));
        match &acts.transform_pre {
            Some(pre) => {
                matmul::linear(rec, &acts.picked, w, b, Act::None, pre);
                gelu::forward(rec, pre, &acts.transformed, self.config.act());
            }
            None => matmul::linear(rec, &acts.picked, w, b, self.config.act(), &acts.transformed),
        }
        let eps = self.config.layer_norm_eps as f32;
        let (lw, lb) = (&head.ln_weight, &head.ln_bias);
        layernorm::forward(
            rec,
            &acts.transformed,
            None,
            lw,
            lb,
            eps,
            &acts.normed,
            &acts.mean,
            &acts.rstd,
        );
        // logits (rows, stride) = normed (rows, H) . decoder (vocab, H)^T + bias; the padding stays zero.
        matmul::linear(
            rec,
            &acts.normed,
            self.decoder(),
            Some(&head.bias),
            Act::None,
            &acts.logits,
        );
        Ok(())
    }

    /// The MLM head for inference on exactly these rows; returns the logits (rows, vocab).
    pub fn record_mlm(&self, rec: &mut Recorder, ws: &Workspace, rows: &[u32]) -> Result<Tensor> {
        let c = &self.config;
        let acts = MlmActs::new(&self.gpu, c.hidden_size, c.vocab_size, rows.len(), false)?;
        self.record_mlm_into(rec, ws, &acts, rows)?;
        Ok(acts.logits)
    }

    /// The MLM decoder weight (vocab, H): the word embeddings unless the checkpoint unties it.
    pub fn decoder(&self) -> &Tensor {
        let untied = self.weights.mlm.as_ref().and_then(|m| m.untied_decoder.as_ref());
        untied.unwrap_or(&self.weights.embeddings.word)
    }
}
