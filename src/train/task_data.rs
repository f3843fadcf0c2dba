//! A fine-tuning dataset on its way to the GPU and back: examples parsed from a file, their features,
//! padded batches with targets, the head's logits per feature, predictions per example, and the task's
//! metrics (accuracy and macro F1, entity precision/recall/F1, or SQuAD exact match and F1).

use crate::error::{Error, Result};
use crate::model::task::{Targets, TaskBatch, IGNORE};
use crate::model::weights::HeadKind;
use crate::model::{Batch, Bert, BertConfig};
use crate::tasks::data::{self, QaExample, TextExample, TokenExample};
use crate::tasks::features::{Feature, FeatureSettings, Target};
use crate::tasks::metrics::Metrics;
use crate::tasks::span::{self, best_answer_by_logits, example_ranges, QaFeature, WindowLogits};
use crate::tasks::{argmax, sequence, token, LabelMap, Task};
use crate::tokenizer::BertTokenizer;

/// The examples of a file, by task.
#[derive(Clone, Debug)]
pub enum Examples {
    Text(Vec<TextExample>),
    Tokens(Vec<TokenExample>),
    Qa(Vec<QaExample>),
}

impl Examples {
    /// Parses a dataset file's contents for `kind` (the format follows the file name's extension).
    pub fn parse(task: Task, text: &str, file: &str) -> Result<Examples> {
        Ok(match task.head {
            HeadKind::Sequence => Examples::Text(data::parse_text_examples(text, file)?),
            HeadKind::Token => Examples::Tokens(data::parse_token_examples(text, file)?),
            HeadKind::Span => Examples::Qa(data::parse_qa_examples(text, file)?),
        })
    }

    pub fn len(&self) -> usize {
        match self {
            Examples::Text(e) => e.len(),
            Examples::Tokens(e) => e.len(),
            Examples::Qa(e) => e.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label values the examples use (tags for token classification), for a fresh label map.
    pub fn label_values(&self) -> Vec<&str> {
        match self {
            Examples::Text(e) => e.iter().filter_map(|x| x.label.as_deref()).collect(),
            Examples::Tokens(e) => e
                .iter()
                .flat_map(|x| x.tags.iter().flatten())
                .map(String::as_str)
                .collect(),
            Examples::Qa(_) => Vec::new(),
        }
    }

    /// Checks that every label (tag) of these evaluation examples of `file` occurs in the training file
    /// `train_file`, whose labels (`labels`) the model learns: the error names the line of the first that
    /// does not. Nothing to check without labels (regression, QA) or when the model brings its own
    /// `id2label` (`config`), against which each label is checked as it is read.
    pub fn check_labels_trained(
        &self,
        labels: Option<&LabelMap>,
        config: &BertConfig,
        file: &str,
        train_file: &str,
    ) -> Result<()> {
        let Some(labels) = labels.filter(|_| LabelMap::from_config(config).is_none()) else {
            return Ok(());
        };
        let known = |l: &str| labels.names.iter().any(|n| n == l);
        let unknown = match self {
            Examples::Text(e) => (e.iter()).find_map(|x| x.label.as_deref().filter(|l| !known(l)).map(|l| (x.line, l))),
            Examples::Tokens(e) => e.iter().find_map(|x| {
                let tags = x.tags.iter().flatten().enumerate();
                tags.map(|(w, t)| (x.word_line(w, file), t.as_str()))
                    .find(|(_, t)| !known(t))
            }),
            Examples::Qa(_) => None,
        };
        match unknown {
            Some((line, label)) => Err(Error::new(format!(
                "{file}:{line}: label {label:?} does not occur in the training file {train_file}, whose labels are {}",
                labels.names.join(", ")
            ))),
            None => Ok(()),
        }
    }

    /// Keeps the first `n` examples.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Examples::Text(e) => e.truncate(n),
            Examples::Tokens(e) => e.truncate(n),
            Examples::Qa(e) => e.truncate(n),
        }
    }
}

/// What the head predicted for each example.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    Classes(Vec<u32>),
    Values(Vec<f32>),
    /// One tag per word (the words a truncated feature kept).
    Tags(Vec<Vec<String>>),
    /// The answer text of each question.
    Answers(Vec<String>),
}

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
    /// Token classification: the word of each token of each feature.
    word_ids: Vec<Vec<Option<u32>>>,
    /// QA: each feature's window (context range and offsets).
    windows: Vec<QaFeature>,
}

impl TaskData {
    /// Tokenizes `examples`; with `training`, QA windows get answer-span targets. `labels` None means
    /// regression for a sequence head. Training and evaluation both need targets: an example without its
    /// label (tags, answers) or a sentence pair without its second text is an error naming the file and
    /// the line (see [`data::check_labelled_texts`], [`data::check_tagged`], [`data::check_answered`]).
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
        match &examples {
            Examples::Text(e) => data::check_labelled_texts(e, file, kind.pairs)?,
            Examples::Tokens(e) => data::check_tagged(e, file)?,
            Examples::Qa(e) => data::check_answered(e, file)?,
        }
        let max = settings.max_len;
        let (mut word_ids, mut windows) = (Vec::new(), Vec::new());
        let features = match &examples {
            Examples::Text(e) => sequence::text_features(tok, e, labels.as_ref(), max, file)?,
            Examples::Tokens(e) => {
                let f = token::token_features(tok, e, labels.as_ref(), max, file)?;
                word_ids = f.iter().map(|t| t.word_ids.clone()).collect();
                f.into_iter().map(|t| t.feature).collect()
            }
            Examples::Qa(e) => {
                windows = span::qa_features(tok, e, max, settings.doc_stride, training)?;
                windows.iter().map(|w| w.feature.clone()).collect()
            }
        };
        Ok(TaskData {
            kind,
            file: file.to_string(),
            examples,
            labels,
            settings,
            features,
            word_ids,
            windows,
        })
    }

    /// Checks that these training data can teach the head something: a classifier needs examples of two
    /// labels or more, a token classifier two tags or more, a regression two values or more. (Evaluation
    /// data may hold one class.)
    pub fn check_learnable(&self) -> Result<()> {
        let file = &self.file;
        let rows = self.examples.len();
        let values: Vec<f32> = (self.features.iter())
            .filter_map(|f| match f.target {
                Target::Value(v) => Some(v),
                _ => None,
            })
            .collect();
        if let Some(&first) = values.first() {
            if values.iter().all(|&v| v == first) {
                return Err(Error::new(format!(
                    "{file}: every label is {first} (all {rows} rows); regression needs labels of two values or more"
                )));
            }
            return Ok(());
        }
        let labels = self.examples.label_values();
        let Some(&first) = labels.first() else { return Ok(()) };
        if labels.iter().any(|&l| l != first) {
            return Ok(());
        }
        Err(Error::new(match self.kind.head {
            HeadKind::Token => format!(
                "{file}: every tag is {first:?} (all {rows} sentences); a token classifier needs tags of two kinds or \
                 more"
            ),
            _ => format!(
                "{file}: every label is {first:?} (the label column of all {rows} rows); a classifier needs examples \
                 of two labels or more"
            ),
        }))
    }

    /// The features at `indices` padded into one batch (length rounded up to a multiple of 4), with
    /// their targets when every one has one.
    pub fn batch(&self, indices: &[usize], pad_id: u32) -> TaskBatch {
        let picked: Vec<&Feature> = indices.iter().map(|&i| &self.features[i]).collect();
        let longest = picked.iter().map(|f| f.ids.len()).max().unwrap_or(1);
        let seq = longest.next_multiple_of(4);
        let rows = picked.iter().map(|f| (&f.ids[..], &f.type_ids[..]));
        let batch = Batch::from_sequences(rows, pad_id, seq, picked.len());
        let targets = targets(&picked, seq).unwrap_or(Targets::None);
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
            let width = logits.len() / (rows * if self.kind.head == HeadKind::Span { 2 } else { 1 }).max(1);
            for (r, &i) in chunk.iter().enumerate() {
                let t = self.features[i].ids.len();
                out.push(match self.kind.head {
                    HeadKind::Sequence => logits[r * width..(r + 1) * width].to_vec(),
                    HeadKind::Token => {
                        let labels = width / seq;
                        logits[r * width..r * width + t * labels].to_vec()
                    }
                    HeadKind::Span => {
                        let (start, end) = logits.split_at(rows * seq);
                        [&start[r * seq..r * seq + t], &end[r * seq..r * seq + t]].concat()
                    }
                });
            }
        }
        Ok((loss_sum / scored.max(1) as f64, out))
    }

    /// Predictions per example from the logits per feature.
    pub fn predictions(&self, logits: &[Vec<f32>]) -> Predictions {
        match &self.examples {
            Examples::Text(_) if self.labels.is_none() => Predictions::Values(logits.iter().map(|l| l[0]).collect()),
            Examples::Text(_) => Predictions::Classes(logits.iter().map(|l| argmax(l) as u32).collect()),
            Examples::Tokens(_) => {
                let labels = self.labels.as_ref().expect("token classification has labels");
                let n = labels.len();
                let tags = logits
                    .iter()
                    .zip(&self.word_ids)
                    .map(|(l, words)| {
                        let token_preds: Vec<u32> = l.chunks_exact(n).map(|row| argmax(row) as u32).collect();
                        (token::word_predictions(words, &token_preds).iter())
                            .map(|&p| labels.name(p as usize).to_string())
                            .collect()
                    })
                    .collect();
                Predictions::Tags(tags)
            }
            Examples::Qa(examples) => {
                let answers = example_ranges(&self.windows)
                    .into_iter()
                    .map(|range| {
                        let windows: Vec<WindowLogits> = range
                            .map(|i| {
                                let (start, end) = logits[i].split_at(logits[i].len() / 2);
                                (&self.windows[i], start, end)
                            })
                            .collect();
                        let e = &examples[windows[0].0.feature.example];
                        best_answer_by_logits(&e.context, &windows, self.settings.max_answer_len)
                            .map(|a| a.answer)
                            .unwrap_or_default()
                    })
                    .collect();
                Predictions::Answers(answers)
            }
        }
    }

    /// The task's metrics of `predictions` against the examples' labels.
    pub fn metrics(&self, predictions: &Predictions) -> Result<Metrics> {
        let missing = || Error::new(format!("{}: evaluation needs labelled examples", self.file));
        Ok(match (&self.examples, predictions) {
            (Examples::Text(_), Predictions::Classes(pred)) => {
                let gold = self.gold_classes().ok_or_else(missing)?;
                Metrics::classification(&gold, pred, self.labels.as_ref().map_or(0, |l| l.len()))
            }
            (Examples::Text(_), Predictions::Values(pred)) => {
                let gold: Vec<f32> = self
                    .features
                    .iter()
                    .map(|f| match f.target {
                        Target::Value(v) => Some(v),
                        _ => None,
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(missing)?;
                let mse = gold
                    .iter()
                    .zip(pred)
                    .map(|(g, p)| ((g - p) as f64).powi(2))
                    .sum::<f64>();
                let mut m = Metrics::default();
                m.set("mse", mse / gold.len().max(1) as f64);
                m
            }
            (Examples::Tokens(e), Predictions::Tags(pred)) => {
                // Words cut by truncation are scored on neither side, as transformers' run_ner does.
                let gold: Vec<Vec<String>> = (e.iter().zip(pred))
                    .map(|(x, p)| x.tags.as_ref().map(|t| t[..p.len().min(t.len())].to_vec()))
                    .collect::<Option<_>>()
                    .ok_or_else(missing)?;
                Metrics::entities(&gold, pred)
            }
            (Examples::Qa(e), Predictions::Answers(pred)) => {
                let gold: Vec<Vec<String>> = e
                    .iter()
                    .map(|x| x.answers.iter().map(|a| a.text.clone()).collect())
                    .collect();
                Metrics::squad(pred, &gold)
            }
            _ => return Err(Error::new("predictions do not match the task")),
        })
    }

    fn gold_classes(&self) -> Option<Vec<u32>> {
        self.features
            .iter()
            .map(|f| match f.target {
                Target::Class(c) => Some(c),
                _ => None,
            })
            .collect()
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
        Target::Class(_) => Targets::Classes(
            picked
                .iter()
                .map(|f| match f.target {
                    Target::Class(c) => Some(c),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
        Target::Value(_) => Targets::Values(
            picked
                .iter()
                .map(|f| match f.target {
                    Target::Value(v) => Some(v),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
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
