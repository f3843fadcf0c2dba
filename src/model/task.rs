//! The fine-tuning heads of the original paper, as transformers builds them: a linear layer on the pooled
//! `[CLS]` output (`BertForSequenceClassification`, cross-entropy or, with one label, squared error), on
//! every token (`BertForTokenClassification`), or a start/end pair per token (`BertForQuestionAnswering`,
//! a softmax over positions). Forward, loss and backward side by side; the encoder's backward follows.

use super::weights::{HeadKind, Pooler, TaskHead};
use super::BackwardBuffers;
use super::{Batch, Bert, Dropout, Weights, Workspace};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Recorder, Tensor};
use crate::ops::{cross_entropy, dropout, matmul, mse, span, Act};

pub use crate::ops::cross_entropy::IGNORE;

/// What a batch should produce, padded to its (batch, seq).
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Inference: no loss.
    None,
    /// (batch) class of each sequence (sequence classification).
    Classes(Vec<u32>),
    /// (batch) value of each sequence (regression: one label).
    Values(Vec<f32>),
    /// (batch * seq) class of each token, `IGNORE` where not scored (token classification).
    Tokens(Vec<u32>),
    /// (batch) token index of each answer's first and last token (question answering).
    Spans { starts: Vec<u32>, ends: Vec<u32> },
}

/// A padded batch and its targets.
#[derive(Clone, Debug)]
pub struct TaskBatch {
    pub batch: Batch,
    pub targets: Targets,
}

impl TaskBatch {
    /// The mean loss over the scored rows and, for classes, the share of them whose argmax is the label,
    /// from the per-row `losses` and `correct` the loss kernels wrote.
    pub fn summarize(&self, losses: &[f32], correct: &[f32]) -> (f64, Option<f64>) {
        let scored = self.scored();
        if scored == 0 {
            return (0.0, None);
        }
        let sum = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>();
        let classes = !matches!(self.targets, Targets::Values(_));
        (
            sum(losses) / scored as f64,
            classes.then(|| sum(correct) / scored as f64),
        )
    }

    /// Rows the loss scores: sequences, labelled tokens, or two per question (start and end).
    pub fn scored(&self) -> usize {
        match &self.targets {
            Targets::None => 0,
            Targets::Classes(c) => c.iter().filter(|&&l| l != IGNORE).count(),
            Targets::Values(v) => v.len(),
            Targets::Tokens(t) => t.iter().filter(|&&l| l != IGNORE).count(),
            Targets::Spans { starts, .. } => 2 * starts.len(),
        }
    }
}

/// The head's activations and loss buffers for one (batch, seq) shape.
pub struct TaskActs {
    pub kind: HeadKind,
    pub batch: usize,
    pub seq: usize,
    /// (rows, H) the head's input after dropout (training with classifier dropout only); rows = batch for
    /// a sequence head, tokens otherwise.
    pub dropped: Option<Tensor>,
    /// (rows, H) gradient of the head's input before dropout is undone (same condition).
    pub d_dropped: Option<Tensor>,
    /// Sequence (batch, labels); Token (tokens, labels); Span (tokens, 2). The backward turns the logits
    /// of sequence and token heads into d(loss)/d(logits) in place.
    pub logits: Tensor,
    /// Span only: (2, batch, seq) start logits of every sequence then end logits; becomes their gradient.
    pub span_rows: Option<Tensor>,
    /// Span only: (tokens, 2) gradient of `logits`.
    pub d_span: Option<Tensor>,
    pub labels: wgpu::Buffer, // (loss rows) u32 classes, IGNORE where not scored
    pub values: Tensor,       // (batch) regression targets
    pub losses: Tensor,       // (loss rows)
    pub lse: Tensor,          // (loss rows) log-sum-exp of each row, for the backward
    pub correct: Tensor,      // (loss rows) 1 where the argmax is the label
}

impl TaskActs {
    pub fn new(gpu: &Gpu, bert: &Bert, batch: usize, seq: usize, training: bool) -> Result<TaskActs> {
        let head = bert.task_head()?;
        let (h, tokens, labels) = (bert.config.hidden_size, batch * seq, head.labels());
        let (rows, loss_rows) = match head.kind {
            HeadKind::Sequence => (batch, batch),
            HeadKind::Token => (tokens, tokens),
            HeadKind::Span => (tokens, 2 * batch),
        };
        let z = |shape: &[usize], name: &str| gpu.zeros(shape, name);
        let dropped = training && bert.classifier_dropout() > 0.0;
        let span = head.kind == HeadKind::Span;
        Ok(TaskActs {
            kind: head.kind,
            batch,
            seq,
            dropped: dropped.then(|| z(&[rows, h], "head_input_dropped")).transpose()?,
            d_dropped: dropped.then(|| z(&[rows, h], "d_head_input_dropped")).transpose()?,
            logits: z(&[rows, labels], "task_logits")?,
            span_rows: span.then(|| z(&[2, batch, seq], "span_logits")).transpose()?,
            d_span: (span && training)
                .then(|| z(&[tokens, 2], "d_task_logits"))
                .transpose()?,
            labels: gpu.upload_u32(&vec![IGNORE; loss_rows], "task_labels")?,
            values: z(&[batch], "task_values")?,
            losses: z(&[loss_rows], "task_losses")?,
            lse: z(&[loss_rows], "task_lse")?,
            correct: z(&[loss_rows], "task_correct")?,
        })
    }

    /// The logits the loss reads (the span rows for question answering, the head's output otherwise) and
    /// their number of classes (every column).
    pub fn loss_logits(&self) -> (&Tensor, usize) {
        let logits = self.span_rows.as_ref().unwrap_or(&self.logits);
        (logits, *logits.shape.last().expect("logits have a shape"))
    }
}

/// One row's logits out of [`Bert::task_logits`] for a batch of `rows` sequences of `seq` tokens: row `r`,
/// whose sequence has `t` tokens. (labels) for a sequence head, (t, labels) for a token head, start then
/// end logits (2 t) for a span head.
pub fn row_logits(kind: HeadKind, logits: &[f32], rows: usize, seq: usize, r: usize, t: usize) -> Vec<f32> {
    match kind {
        HeadKind::Sequence => {
            let width = logits.len() / rows.max(1);
            logits[r * width..(r + 1) * width].to_vec()
        }
        HeadKind::Token => {
            let width = logits.len() / rows.max(1);
            let labels = width / seq.max(1);
            logits[r * width..r * width + t * labels].to_vec()
        }
        HeadKind::Span => {
            let (start, end) = logits.split_at(rows * seq);
            [&start[r * seq..r * seq + t], &end[r * seq..r * seq + t]].concat()
        }
    }
}

impl Bert {
    /// Inference on one batch: the head's logits and, when the batch has targets, the mean loss and
    /// accuracy (see `TaskBatch::summarize`). Logits are (batch, labels) for a sequence head,
    /// (batch * seq, labels) for a token head, and (2, batch, seq) start then end logits for a span head
    /// (positions past the batch's longest sequence hold -1e30).
    pub async fn task_logits(&self, b: &TaskBatch) -> Result<(f64, Option<f64>, Vec<f32>)> {
        let acts = TaskActs::new(&self.gpu, self, b.batch.batch, b.batch.seq, false)?;
        let mut rec = Recorder::new(&self.gpu);
        let ws = self.record_forward(&mut rec, &b.batch)?;
        self.record_task_forward(&mut rec, &ws, &acts, b, None)?;
        let (logits, _) = acts.loss_logits();
        let reads = [
            (&acts.losses.buf, 0, acts.losses.len()),
            (&acts.correct.buf, 0, acts.correct.len()),
            (&logits.buf, 0, logits.len()),
        ];
        let mut r = rec.submit_and_read(&reads).await?;
        let (loss, accuracy) = b.summarize(&r[0], &r[1]);
        Ok((loss, accuracy, r.pop().unwrap()))
    }

    /// The fine-tuning head, or an error saying the model has none.
    pub fn task_head(&self) -> Result<&TaskHead> {
        self.weights.task.as_ref().ok_or_else(|| {
            Error::new(format!(
                "this model ({}) has no task head (classifier.* or qa_outputs.*): fine-tune it first",
                self.architecture()
            ))
        })
    }

    /// Dropout before the classifier: config.json's `classifier_dropout`, else `hidden_dropout_prob`
    /// (transformers' rule); the QA head has none.
    pub fn classifier_dropout(&self) -> f32 {
        match self.weights.task.as_ref().map(|t| t.kind) {
            Some(HeadKind::Span) | None => 0.0,
            _ => {
                let set = self.config.extra.get("classifier_dropout").and_then(|v| v.as_f64());
                set.unwrap_or(self.config.hidden_dropout_prob) as f32
            }
        }
    }

    /// Dropout site of the head (after the encoder's sites; see `Dropout`).
    fn head_site(&self) -> u32 {
        1 + 3 * self.config.num_hidden_layers as u32
    }

    /// Records the head on the encoder output in `ws` (the forward of `b.batch`) and, unless the targets
    /// are `None`, its loss: per-row losses, log-sum-exp and correctness in `acts`.
    pub fn record_task_forward(
        &self,
        rec: &mut Recorder,
        ws: &Workspace,
        acts: &TaskActs,
        b: &TaskBatch,
        dropout: Option<Dropout>,
    ) -> Result<()> {
        let head = self.task_head()?;
        let input = match head.kind {
            HeadKind::Sequence => &ws.pooled,
            HeadKind::Token | HeadKind::Span => ws.last_hidden(),
        };
        let input = match (&acts.dropped, dropout) {
            (Some(out), Some(d)) => {
                dropout::forward(rec, input, out, self.classifier_dropout(), d.seed, self.head_site());
                out
            }
            _ => input,
        };
        matmul::linear(rec, input, &head.weight, Some(&head.bias), Act::None, &acts.logits);
        if let Some(rows) = &acts.span_rows {
            span::forward(rec, &acts.logits, rows, valid_positions(&b.batch));
        }
        let q = &self.gpu.queue;
        let labels: Vec<u32> = match &b.targets {
            Targets::None => return Ok(()),
            Targets::Values(v) => {
                q.write_buffer(&acts.values.buf, 0, bytemuck::cast_slice(v));
                mse::forward(rec, &acts.logits, &acts.values, &acts.losses, v.len());
                return Ok(());
            }
            Targets::Classes(c) | Targets::Tokens(c) => c.clone(),
            Targets::Spans { starts, ends } => [&starts[..], &ends[..]].concat(),
        };
        let mut padded = labels;
        padded.resize(acts.losses.len(), IGNORE);
        q.write_buffer(&acts.labels, 0, bytemuck::cast_slice(&padded));
        let (l, lse, c) = (&acts.losses, &acts.lse, &acts.correct);
        let (logits, classes) = acts.loss_logits();
        cross_entropy::forward(rec, logits, classes, &acts.labels, l, lse, c);
        Ok(())
    }

    /// Records the backward of the mean loss over the scored rows of `b` from the head through the
    /// encoder, adding every parameter gradient into `g`. `bb` must hold the batch's indices
    /// (`BackwardBuffers::write_indices`).
    #[allow(clippy::too_many_arguments)]
    pub fn record_task_backward(
        &self,
        rec: &mut Recorder,
        ws: &Workspace,
        acts: &TaskActs,
        b: &TaskBatch,
        bb: &BackwardBuffers,
        g: &Weights,
        dropout: Option<Dropout>,
    ) -> Result<()> {
        let (head, ghead) = (
            self.task_head()?,
            g.task.as_ref().expect("gradients have the task head"),
        );
        let scale = 1.0 / b.scored().max(1) as f32;
        match &b.targets {
            Targets::None => return Err(Error::new("the backward pass needs targets")),
            Targets::Values(v) => mse::backward(rec, &acts.logits, &acts.values, v.len(), scale),
            _ => {
                let (logits, classes) = acts.loss_logits();
                cross_entropy::backward(rec, logits, classes, &acts.labels, &acts.lse, scale)
            }
        }
        let d_logits = match (&acts.span_rows, &acts.d_span) {
            (Some(rows), Some(d)) => {
                span::backward(rec, rows, d, valid_positions(&b.batch));
                d
            }
            _ => &acts.logits,
        };
        let input = match head.kind {
            HeadKind::Sequence => &ws.pooled,
            HeadKind::Token | HeadKind::Span => ws.last_hidden(),
        };
        // Where d(input) goes: the pooled output's gradient or the last hidden state's.
        let d_input = match head.kind {
            HeadKind::Sequence => &bb.d_pooled,
            HeadKind::Token | HeadKind::Span => bb.d_last(),
        };
        let drop = acts.dropped.as_ref().zip(acts.d_dropped.as_ref()).zip(dropout);
        let (x, dx) = match drop {
            Some(((dropped, d_dropped), _)) => (dropped, d_dropped),
            None => (input, d_input),
        };
        let (gw, gb) = (&ghead.weight, Some(&ghead.bias));
        matmul::linear_backward(rec, x, &head.weight, d_logits, Some(dx), false, gw, gb);
        if let Some(((_, d_dropped), d)) = drop {
            dropout::backward(
                rec,
                d_dropped,
                d_input,
                self.classifier_dropout(),
                d.seed,
                self.head_site(),
            );
        }
        if head.kind == HeadKind::Sequence {
            self.record_pooler_backward(rec, ws, bb, g, false);
        }
        self.record_encoder_backward(rec, ws, bb, g, dropout);
        Ok(())
    }

    /// Turns this model into one with a fresh `kind` head of `labels` outputs (normal(0,
    /// initializer_range) weights, zero bias, drawn from `seed`), as transformers does when it loads an
    /// encoder into a `BertFor...` class: pretraining heads go; a sequence head needs the pooler (fresh
    /// when the checkpoint has none); token and span heads do without it. A head of the same kind and size
    /// is kept (resuming from a fine-tuned model).
    pub fn with_task_head(mut self, kind: HeadKind, labels: usize, seed: u64) -> Result<Bert> {
        let keep = self
            .weights
            .task
            .as_ref()
            .is_some_and(|t| t.kind == kind && t.labels() == labels);
        let w = &mut self.weights;
        w.mlm = None;
        w.nsp = None;
        let (h, std) = (self.config.hidden_size, self.config.initializer_range);
        let mut rng = crate::rng::Rng::new(seed);
        let mut normal = |rows: usize, name: &str| -> Result<Tensor> {
            let data: Vec<f32> = (0..rows * h).map(|_| (rng.normal() * std) as f32).collect();
            self.gpu.upload(&data, &[rows, h], name)
        };
        if kind == HeadKind::Sequence && w.pooler.is_none() {
            w.pooler = Some(Pooler {
                weight: normal(h, "pooler.dense.weight")?,
                bias: self.gpu.zeros(&[h], "pooler.dense.bias")?,
            });
        }
        if kind != HeadKind::Sequence {
            w.pooler = None;
        }
        if !keep {
            w.task = Some(TaskHead {
                kind,
                weight: normal(labels, kind.stem())?,
                bias: self.gpu.zeros(&[labels], kind.stem())?,
            });
        }
        self.config.architectures = Some(vec![kind.architecture().into()]);
        Ok(self)
    }
}

/// Positions of each sequence that the span softmax covers: those up to the batch's longest sequence
/// (transformers pads to the longest and takes the softmax over every position of the padded batch).
fn valid_positions(batch: &Batch) -> usize {
    batch.lengths.iter().copied().max().unwrap_or(0)
}
