//! One pretraining step of the original recipe on the GPU, recorded into one submit: forward with the MLM
//! head on masked positions only, mean cross-entropy (MLM) + cross-entropy (NSP), backward, and every
//! `accumulation` steps the optimizer update. Buffers are sized once for (batch, seq, masked rows).

use super::data::PretrainBatch;
use super::optimizer::{Optimizer, OptimizerConfig};
use crate::error::{Error, Result};
use crate::gpu::{Recorder, Tensor};
use crate::model::heads::MlmActs;
use crate::model::BackwardBuffers;
use crate::model::{AttentionMode, Batch, Bert, Dropout, Weights};
use crate::ops::cross_entropy::{self, IGNORE};
use crate::ops::dropout::step_seed;

/// What one step measured (means over the scored rows of the batch).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StepMetrics {
    pub loss: f64,
    pub mlm_loss: f64,
    pub nsp_loss: f64,
    pub mlm_accuracy: f64,
    pub nsp_accuracy: f64,
    /// Global gradient norm before clipping (update steps only).
    pub grad_norm: Option<f64>,
    pub lr: f64,
    pub masked_tokens: usize,
}

pub struct Pretrainer {
    pub bert: Bert,
    pub grads: Weights,
    pub optimizer: Optimizer,
    /// Optimizer steps taken.
    pub step: u64,
    /// Micro-batches accumulated since the last update.
    pub micro: usize,
    pub accumulation: usize,
    /// The run's seed: each micro-step's dropout masks derive from it and the step.
    pub seed: u64,
    pub batch_size: usize,
    pub seq: usize,
    mlm: MlmActs,
    bb: BackwardBuffers,
    mlm_labels: wgpu::Buffer, // (rows) u32
    nsp_labels: wgpu::Buffer, // (batch) u32
    mlm_loss: [Tensor; 3],    // losses, lse, correct: each (rows)
    nsp_loss: [Tensor; 3],    // losses, lse, correct: each (batch)
}

impl Pretrainer {
    /// `max_predictions` is per sequence (BERT: 20); batches are padded to (batch_size, seq).
    pub fn new(
        bert: Bert,
        config: OptimizerConfig,
        batch_size: usize,
        seq: usize,
        max_predictions: usize,
        accumulation: usize,
    ) -> Result<Pretrainer> {
        if bert.weights.mlm.is_none() || bert.weights.nsp.is_none() || bert.weights.pooler.is_none() {
            return Err(Error::new(
                "pretraining needs a BertForPreTraining model (MLM and NSP heads)",
            ));
        }
        if !seq.is_multiple_of(4) || seq > bert.config.max_position_embeddings {
            return Err(Error::new(format!(
                "sequence length {seq} must be a multiple of 4 and at most max_position_embeddings ({})",
                bert.config.max_position_embeddings
            )));
        }
        let gpu = bert.gpu.clone();
        let c = &bert.config;
        let rows = batch_size * max_predictions;
        let z = |shape: &[usize], name: &str| gpu.zeros(shape, name);
        // Every step pads to batch_size x seq: the training activations are created now, with the rest, so
        // that `Gpu::check_memory` sees the whole run before anything is used.
        bert.workspace(batch_size, seq, true, AttentionMode::KeepProbabilities)?;
        Ok(Pretrainer {
            grads: bert.weights.zeros_like(&gpu, "grad")?,
            optimizer: Optimizer::new(&gpu, &bert.weights, config)?,
            step: 0,
            micro: 0,
            accumulation: accumulation.max(1),
            seed: 0,
            batch_size,
            seq,
            mlm: MlmActs::new(&gpu, c.hidden_size, c.vocab_size, rows, true)?,
            bb: BackwardBuffers::new(&gpu, c, batch_size, seq, rows)?,
            mlm_labels: gpu.upload_u32(&vec![IGNORE; rows], "mlm_labels")?,
            nsp_labels: gpu.upload_u32(&vec![IGNORE; batch_size], "nsp_labels")?,
            mlm_loss: [
                z(&[rows], "mlm_losses")?,
                z(&[rows], "mlm_lse")?,
                z(&[rows], "mlm_correct")?,
            ],
            nsp_loss: [
                z(&[batch_size], "nsp_losses")?,
                z(&[batch_size], "nsp_lse")?,
                z(&[batch_size], "nsp_correct")?,
            ],
            bert,
        })
    }

    /// Pads a batch to this trainer's (batch_size, seq): extra sequences are all padding and score nothing.
    fn pad(&self, b: &PretrainBatch) -> Result<(Batch, Vec<u32>, Vec<u32>, Vec<u32>)> {
        let (bs, seq) = (self.batch_size, self.seq);
        let src = &b.batch;
        if src.batch > bs || src.lengths.iter().any(|&l| l > seq) || b.mlm_rows.len() > self.mlm.rows {
            return Err(Error::new(format!(
                "batch of {} sequences (longest {}, {} masked) exceeds the trainer's {bs} x {seq} ({} masked)",
                src.batch,
                src.lengths.iter().max().unwrap_or(&0),
                b.mlm_rows.len(),
                self.mlm.rows
            )));
        }
        let sequences = (0..src.batch).map(|i| {
            let row = i * src.seq..i * src.seq + src.lengths[i];
            (&src.ids[row.clone()], &src.types[row])
        });
        let mut out = Batch::from_sequences(sequences, self.bert.tokenizer.pad_id(), seq, bs);
        // A sequence of padding only still needs one key to attend to: its [CLS] slot.
        for i in src.batch..bs {
            out.mask[i * seq] = 1.0;
        }
        let rows: Vec<u32> = b
            .mlm_rows
            .iter()
            .map(|&r| (r as usize / src.seq * seq + r as usize % src.seq) as u32)
            .collect();
        let mut mlm_labels = b.mlm_labels.clone();
        mlm_labels.resize(self.mlm.rows, IGNORE);
        let mut nsp_labels = b.nsp_labels.clone();
        nsp_labels.resize(bs, IGNORE);
        Ok((out, rows, mlm_labels, nsp_labels))
    }

    /// Records forward, losses and (when `backward`) the backward pass of one batch. Returns the numbers of
    /// scored MLM rows and sequences.
    fn record(&self, rec: &mut Recorder, b: &PretrainBatch, backward: bool) -> Result<(usize, usize)> {
        let (batch, rows, mlm_labels, nsp_labels) = self.pad(b)?;
        let bert = &self.bert;
        let q = &bert.gpu.queue;
        q.write_buffer(&self.mlm_labels, 0, bytemuck::cast_slice(&mlm_labels));
        q.write_buffer(&self.nsp_labels, 0, bytemuck::cast_slice(&nsp_labels));
        let c = &bert.config;
        let dropout = (backward && c.uses_dropout()).then(|| Dropout {
            seed: step_seed(self.seed, self.step * self.accumulation as u64 + self.micro as u64),
            hidden: c.hidden_dropout_prob as f32,
            attention: c.attention_probs_dropout_prob as f32,
        });
        let ws = bert.record_forward_with(rec, &batch, true, dropout)?;
        bert.record_mlm_into(rec, &ws, &self.mlm, &rows)?;
        let [ml, mlse, mc] = &self.mlm_loss;
        let vocab = bert.config.vocab_size;
        cross_entropy::forward(rec, &self.mlm.logits, vocab, &self.mlm_labels, ml, mlse, mc);
        let [nl, nlse, nc] = &self.nsp_loss;
        cross_entropy::forward(rec, &ws.nsp_logits, 2, &self.nsp_labels, nl, nlse, nc);
        let (scored_rows, scored_seqs) = (b.mlm_rows.len(), b.batch.batch);
        if backward {
            // Mean over scored rows of each loss, and over the accumulated micro-batches.
            let acc = self.accumulation as f32;
            let mlm_scale = 1.0 / (scored_rows.max(1) as f32 * acc);
            cross_entropy::backward(rec, &self.mlm.logits, vocab, &self.mlm_labels, mlse, mlm_scale);
            cross_entropy::backward(
                rec,
                &ws.nsp_logits,
                2,
                &self.nsp_labels,
                nlse,
                1.0 / (scored_seqs as f32 * acc),
            );
            self.bb
                .write_indices(&bert.gpu, &bert.config, &ws, &batch.ids, &batch.types, &rows)?;
            bert.record_backward(rec, &ws, &self.mlm, &self.bb, &self.grads, dropout);
        }
        Ok((scored_rows, scored_seqs))
    }

    /// One training step (one micro-batch). The optimizer updates every `accumulation` micro-batches.
    /// With `read_metrics` the losses come back (one small readback); otherwise nothing is read.
    pub async fn step(&mut self, b: &PretrainBatch, read_metrics: bool) -> Result<Option<StepMetrics>> {
        let mut rec = Recorder::new(&self.bert.gpu);
        let counts = self.record(&mut rec, b, true)?;
        let update = self.micro + 1 == self.accumulation;
        let lr = self.optimizer.config.lr_at(self.step);
        if update {
            self.optimizer
                .record_update(&mut rec, &self.bert.weights, &self.grads, self.step);
        }
        let metrics = self.finish(rec, counts, read_metrics, update, lr).await?;
        self.micro = if update { 0 } else { self.micro + 1 };
        if update {
            self.step += 1;
        }
        Ok(metrics)
    }

    /// Loss and accuracy of a batch without changing anything (held-out evaluation).
    pub async fn evaluate(&self, b: &PretrainBatch) -> Result<StepMetrics> {
        let mut rec = Recorder::new(&self.bert.gpu);
        let counts = self.record(&mut rec, b, false)?;
        let lr = self.optimizer.config.lr_at(self.step);
        Ok(self.finish(rec, counts, true, false, lr).await?.unwrap())
    }

    /// Records the gradients of one batch into `grads` without an update (tests compare them with PyTorch).
    pub async fn accumulate_gradients(&self, b: &PretrainBatch) -> Result<StepMetrics> {
        let mut rec = Recorder::new(&self.bert.gpu);
        let counts = self.record(&mut rec, b, true)?;
        Ok(self.finish(rec, counts, true, false, 0.0).await?.unwrap())
    }

    async fn finish(
        &self,
        rec: Recorder<'_>,
        (rows, seqs): (usize, usize),
        read: bool,
        update: bool,
        lr: f64,
    ) -> Result<Option<StepMetrics>> {
        if !read {
            rec.submit().await?;
            return Ok(None);
        }
        let [ml, _, mc] = &self.mlm_loss;
        let [nl, _, nc] = &self.nsp_loss;
        let clip = &self.optimizer.clip;
        let reads = [
            (&ml.buf, 0, ml.len()),
            (&mc.buf, 0, mc.len()),
            (&nl.buf, 0, nl.len()),
            (&nc.buf, 0, nc.len()),
            (&clip.buf, 0, 1),
        ];
        let r = rec.submit_and_read(&reads).await?;
        let sum = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>();
        let mlm_loss = sum(&r[0]) / rows.max(1) as f64;
        let nsp_loss = sum(&r[2]) / seqs.max(1) as f64;
        let metrics = StepMetrics {
            loss: mlm_loss + nsp_loss,
            mlm_loss,
            nsp_loss,
            mlm_accuracy: sum(&r[1]) / rows.max(1) as f64,
            nsp_accuracy: sum(&r[3]) / seqs.max(1) as f64,
            grad_norm: update.then(|| r[4][0] as f64),
            lr,
            masked_tokens: rows,
        };
        if !metrics.loss.is_finite() {
            return Err(Error::new(format!(
                "the loss is {} at optimizer step {}: training diverged",
                metrics.loss, self.step
            )));
        }
        Ok(Some(metrics))
    }
}
