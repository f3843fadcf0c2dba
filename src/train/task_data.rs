//! A fine-tuning dataset on its way to the GPU and back: its examples, their features, padded batches with
//! targets and the head's logits per feature; predictions come from the head's [`Decode`] and
//! metrics from [`Examples::metrics`].

use crate::error::{Error, Result};
use crate::model::task::{row_logits, Targets, TaskBatch, IGNORE};
use crate::model::{Batch, Bert};
use crate::tasks::features::{Feature, FeatureSettings, Target};
use crate::tasks::metrics::Metrics;
use crate::tasks::{Decode, Examples, LabelMap, Predictions, Task};
use crate::tokenizer::BertTokenizer;

/// A dataset of one task with its features.
pub struct TaskData {
    pub kind: Task,
    /// The file name, for messages.
    pub file: String,
    pub examples: Examples,
    /// The label map of a classification head; None for regression and QA.
    pub labels: Option<LabelMap>,
    pub settings: FeatureSettings,
    /// Model inputs and targets (several per QA example when the context needs windows).
    pub features: Vec<Feature>,
    /// The head's predictions per example from its logits per feature.
    decode: Decode,
}

impl TaskData {
    /// Tokenizes `examples`; with `training`, QA windows get answer-span targets. `labels` None means
    /// regression for a sequence head. Training and evaluation both need targets: an example without its
    /// label (tags, answers) or a sentence pair without its second text is an error naming the file and
    /// the line (see [`Examples::check_targets`]).
    pub fn new(
        kind: Task,
        file: &str,
        examples: Examples,
        tok: &BertTokenizer,
        labels: Option<LabelMap>,
        settings: FeatureSettings,
        training: bool,
    ) -> Result<TaskData> {
        if examples.is_empty() {
            return Err(Error::new(format!("{file}: no examples")));
        }
        examples.check_targets(file, kind.pairs)?;
        let (features, decode) = examples.features(tok, labels.as_ref(), settings, training, file)?;
        Ok(TaskData {
            kind,
            file: file.to_string(),
            examples,
            labels,
            settings,
            features,
            decode,
        })
    }

    /// Checks that these training data can teach the head something (see [`Examples::check_learnable`]).
    pub fn check_learnable(&self) -> Result<()> {
        self.examples.check_learnable(&self.features, &self.file)
    }

    /// The features at `indices` padded into one batch (length rounded up to a multiple of 4), with
    /// their targets when every one has one.
    pub fn batch(&self, indices: &[usize], pad_id: u32) -> TaskBatch {
        let picked: Vec<&Feature> = indices.iter().map(|&i| &self.features[i]).collect();
        let rows: Vec<_> = picked.iter().map(|f| (&f.ids[..], &f.type_ids[..])).collect();
        let batch = Batch::padded(&rows, pad_id);
        let targets = targets(&picked, batch.seq).unwrap_or(Targets::None);
        TaskBatch { batch, targets }
    }

    /// The head's logits for every feature, in batches of `batch_size`, and the mean loss over the
    /// batches' scored rows (0 without targets). Per feature: (labels) for a sequence head, (T, labels)
    /// for a token head, start then end logits (2 T) for a span head, T the feature's length.
    pub async fn logits(&self, bert: &Bert, batch_size: usize) -> Result<(f64, Vec<Vec<f32>>)> {
        let pad = bert.tokenizer.pad_id();
        let (mut out, mut loss_sum, mut scored) = (Vec::with_capacity(self.features.len()), 0.0, 0usize);
        let all: Vec<usize> = (0..self.features.len()).collect();
        for chunk in all.chunks(batch_size.max(1)) {
            let b = self.batch(chunk, pad);
            let (loss, _, logits) = bert.task_logits(&b).await?;
            loss_sum += loss * b.scored() as f64;
            scored += b.scored();
            let (rows, seq) = (b.batch.batch, b.batch.seq);
            for (r, &i) in chunk.iter().enumerate() {
                let t = self.features[i].ids.len();
                out.push(row_logits(self.kind.head, &logits, rows, seq, r, t));
            }
        }
        Ok((loss_sum / scored.max(1) as f64, out))
    }

    /// Predictions per example from the logits per feature.
    pub fn predictions(&self, logits: &[Vec<f32>]) -> Predictions {
        (self.decode)(logits)
    }

    /// The task's metrics of `predictions` against the examples' labels.
    pub fn metrics(&self, predictions: &Predictions) -> Result<Metrics> {
        (self.examples).metrics(&self.features, predictions, self.labels.as_ref(), &self.file)
    }

    /// Logits, loss, predictions and metrics of the whole dataset; the metrics include `loss`.
    pub async fn evaluate(&self, bert: &Bert, batch_size: usize) -> Result<(Metrics, Predictions)> {
        let (loss, logits) = self.logits(bert, batch_size).await?;
        let predictions = self.predictions(&logits);
        let mut metrics = self.metrics(&predictions)?;
        metrics.set("loss", loss);
        Ok((metrics, predictions))
    }
}

/// The targets of a batch of features padded to `seq`, or None when one of them has none.
fn targets(picked: &[&Feature], seq: usize) -> Option<Targets> {
    let first = picked.first()?;
    Some(match first.target {
        Target::None => return None,
        Target::Class(_) => Targets::Classes(picked.iter().map(|f| f.target.class()).collect::<Option<_>>()?),
        Target::Value(_) => Targets::Values(picked.iter().map(|f| f.target.value()).collect::<Option<_>>()?),
        Target::Tokens(_) => {
            let mut out = vec![IGNORE; picked.len() * seq];
            for (r, f) in picked.iter().enumerate() {
                let Target::Tokens(t) = &f.target else { return None };
                out[r * seq..r * seq + t.len()].copy_from_slice(t);
            }
            Targets::Tokens(out)
        }
        Target::Span { .. } => {
            let (mut starts, mut ends) = (Vec::new(), Vec::new());
            for f in picked {
                let Target::Span { start, end } = f.target else {
                    return None;
                };
                starts.push(start);
                ends.push(end);
            }
            Targets::Spans { starts, ends }
        }
    })
}
