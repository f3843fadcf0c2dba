//! One fine-tuning step on the GPU, recorded into one submit: the encoder forward, the task head and its
//! loss (mean over the scored rows), the backward pass and the optimizer update. Activations are kept for
//! the last batch shape and reallocated when it changes (batches are padded to their longest sequence).

use std::cell::RefCell;

use super::optimizer::{Optimizer, OptimizerConfig};
use crate::error::{Error, Result};
use crate::gpu::Recorder;
use crate::model::task::{Targets, TaskActs, TaskBatch};
use crate::model::weights::HeadKind;
use crate::model::BackwardBuffers;
use crate::model::{Bert, Dropout, Weights};
use crate::ops::adamw::AdamVariant;
use crate::ops::dropout::step_seed;
use crate::rng::Rng;
use crate::tasks::LabelMap;

/// Hugging Face's fine-tuning recipe: AdamW (torch), linear warmup over a share of the steps then linear
/// decay to 0, global-norm clipping, one seeded shuffle per epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recipe {
    pub lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clipping (0: off).
    pub clip: f64,
    pub epochs: u64,
    pub batch_size: usize,
    pub seed: u64,
}

impl Recipe {
    /// Optimizer steps of one epoch over `features` inputs.
    pub fn steps_per_epoch(&self, features: usize) -> u64 {
        features.div_ceil(self.batch_size.max(1)) as u64
    }

    /// The optimizer settings for `features` inputs.
    pub fn optimizer(&self, features: usize) -> OptimizerConfig {
        let total = self.steps_per_epoch(features) * self.epochs;
        let warmup = (self.warmup_ratio * total as f64) as u64;
        let mut opt = OptimizerConfig::new(AdamVariant::Torch, self.lr, warmup, total);
        opt.weight_decay = self.weight_decay;
        // clip 0 means no clipping, which the optimizer spells as an infinite norm.
        opt.max_grad_norm = if self.clip == 0.0 { f64::INFINITY } else { self.clip };
        opt
    }

    /// The order of `features` inputs in `epoch` (0-based): the same permutation on every run.
    pub fn epoch_order(&self, features: usize, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..features).collect();
        Rng::new(self.seed.wrapping_add(epoch)).shuffle(&mut order);
        order
    }
}

/// Gives `bert` the head of `kind` for `labels` (None: regression with one output, or QA's start/end pair),
/// saved in config.json as `id2label` / `label2id` and, for a sequence head, `problem_type`.
pub fn with_task(bert: Bert, kind: HeadKind, labels: Option<&LabelMap>, seed: u64) -> Result<Bert> {
    let outputs = match (kind.fixed_outputs(), labels) {
        (Some(n), _) => n,
        (None, Some(l)) => l.len(),
        (None, None) => 1,
    };
    let mut bert = bert.with_task_head(kind, outputs, seed)?;
    if let Some(l) = labels {
        l.write_to_config(&mut bert.config);
    }
    if kind == HeadKind::Sequence {
        let problem = if labels.is_none() {
            "regression"
        } else {
            "single_label_classification"
        };
        bert.config.extra.insert("problem_type".into(), problem.into());
    }
    Ok(bert)
}

/// What one step measured over the scored rows of its batch.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TaskMetrics {
    /// Mean loss (cross-entropy; squared error for regression; the mean of start and end for QA).
    pub loss: f64,
    /// Share of scored rows whose argmax is the label (classification heads; start/end positions for QA).
    pub accuracy: Option<f64>,
    /// Global gradient norm before clipping (update steps only).
    pub grad_norm: Option<f64>,
    pub lr: f64,
    /// Rows the loss scored: sequences, labelled tokens, or 2 per question.
    pub scored: usize,
}

/// The buffers of one (batch, seq) shape.
struct Buffers {
    acts: TaskActs,
    bb: BackwardBuffers,
}

pub struct Finetuner {
    pub bert: Bert,
    pub grads: Weights,
    pub optimizer: Optimizer,
    /// Optimizer steps taken.
    pub step: u64,
    /// The run's seed: each step's dropout masks derive from it and the step.
    pub seed: u64,
    buffers: RefCell<Option<Buffers>>,
}

impl Finetuner {
    /// A trainer for a model that has a task head (`Bert::with_task_head`).
    pub fn new(bert: Bert, config: OptimizerConfig, seed: u64) -> Result<Finetuner> {
        bert.task_head()?;
        let gpu = bert.gpu.clone();
        Ok(Finetuner {
            grads: bert.weights.zeros_like(&gpu, "grad")?,
            optimizer: Optimizer::new(&gpu, &bert.weights, config)?,
            step: 0,
            seed,
            buffers: RefCell::new(None),
            bert,
        })
    }

    /// One optimizer step on a batch; returns its loss and accuracy.
    pub async fn step(&mut self, b: &TaskBatch) -> Result<TaskMetrics> {
        let mut rec = Recorder::new(&self.bert.gpu);
        self.record(&mut rec, b)?;
        self.optimizer
            .record_update(&mut rec, &self.bert.weights, &self.grads, self.step);
        let lr = self.optimizer.config.lr_at(self.step);
        let metrics = self.finish(rec, b, true, lr).await?;
        self.step += 1;
        Ok(metrics)
    }

    /// The gradients of one batch added into `grads`, without an update (tests compare them with PyTorch).
    pub async fn accumulate_gradients(&self, b: &TaskBatch) -> Result<TaskMetrics> {
        let mut rec = Recorder::new(&self.bert.gpu);
        self.record(&mut rec, b)?;
        self.finish(rec, b, false, 0.0).await
    }

    /// Loss (when the batch has targets) and the head's logits of a batch, changing nothing: see
    /// `Bert::task_logits`.
    pub async fn evaluate(&self, b: &TaskBatch) -> Result<(TaskMetrics, Vec<f32>)> {
        let (loss, accuracy, logits) = self.bert.task_logits(b).await?;
        let metrics = TaskMetrics {
            loss,
            accuracy,
            lr: self.optimizer.config.lr_at(self.step),
            scored: b.scored(),
            ..Default::default()
        };
        Ok((metrics, logits))
    }

    /// optimizer.safetensors bytes (see `Optimizer::state_bytes`).
    pub async fn optimizer_state(&self) -> Result<Vec<u8>> {
        self.optimizer.state_bytes(&self.bert.gpu).await
    }

    /// Restores the optimizer state and the step count of a checkpoint.
    pub fn load_optimizer_state(&mut self, bytes: &[u8], step: u64) -> Result<()> {
        self.optimizer.config.check_resumed_step(step)?;
        self.optimizer.load_state(&self.bert.gpu, bytes)?;
        self.step = step;
        Ok(())
    }

    /// Records forward, loss and backward of one batch.
    fn record(&self, rec: &mut Recorder, b: &TaskBatch) -> Result<()> {
        let bert = &self.bert;
        let (batch, seq) = (b.batch.batch, b.batch.seq);
        let mut slot = self.buffers.borrow_mut();
        let fits = slot
            .as_ref()
            .is_some_and(|s| s.acts.batch == batch && s.acts.seq == seq);
        if !fits {
            *slot = None; // release the old shape first
            *slot = Some(Buffers {
                acts: TaskActs::new(&bert.gpu, bert, batch, seq, true)?,
                bb: BackwardBuffers::new(&bert.gpu, &bert.config, batch, seq, 0)?,
            });
        }
        let Buffers { acts, bb } = slot.as_ref().unwrap();
        let c = &bert.config;
        let dropout = (c.uses_dropout() || bert.classifier_dropout() > 0.0).then(|| Dropout {
            seed: step_seed(self.seed, self.step),
            hidden: c.hidden_dropout_prob as f32,
            attention: c.attention_probs_dropout_prob as f32,
        });
        let ws = bert.record_forward_with(rec, &b.batch, true, dropout)?;
        bert.record_task_forward(rec, &ws, acts, b, dropout)?;
        if b.targets == Targets::None {
            return Err(Error::new("a training batch needs targets"));
        }
        bb.write_indices(&bert.gpu, c, &ws, &b.batch.ids, &b.batch.types, &[])?;
        bert.record_task_backward(rec, &ws, acts, b, bb, &self.grads, dropout)
    }

    /// Submits, reads the losses (and the gradient norm of an update) back and checks they are finite.
    async fn finish(&self, rec: Recorder<'_>, b: &TaskBatch, update: bool, lr: f64) -> Result<TaskMetrics> {
        // The buffers' handles (wgpu buffers are shared handles), so that no borrow of the slot is held
        // across the await.
        let (losses, correct) = {
            let slot = self.buffers.borrow();
            let acts = &slot.as_ref().expect("buffers were allocated by record").acts;
            (
                (acts.losses.buf.clone(), acts.losses.len()),
                (acts.correct.buf.clone(), acts.correct.len()),
            )
        };
        let clip = &self.optimizer.clip;
        let reads = [(&losses.0, 0, losses.1), (&correct.0, 0, correct.1), (&clip.buf, 0, 1)];
        let r = rec.submit_and_read(&reads).await?;
        let (loss, accuracy) = b.summarize(&r[0], &r[1]);
        if !loss.is_finite() {
            return Err(Error::new(format!(
                "the loss is {loss} at optimizer step {}: training diverged",
                self.step
            )));
        }
        Ok(TaskMetrics {
            loss,
            accuracy,
            grad_norm: update.then(|| r[2][0] as f64),
            lr,
            scored: b.scored(),
        })
    }
}
