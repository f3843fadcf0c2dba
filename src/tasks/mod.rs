//! The host side of fine-tuning and of the task pipelines: tasks, label maps ([`labels`]), and one module
//! per head (a folder: `data.rs` with its example type and dataset reader, `mod.rs` with its features,
//! metrics and pipeline) in [`sequence`], [`token`] and [`span`]. What the heads share: features
//! ([`features`]), named results ([`metrics`]), pipeline inputs and results ([`pipeline`]), reading a
//! dataset file ([`files`]). The heads meet here: [`Task`], [`Examples`] (parsing, features with their
//! [`Decode`], metrics by head) and the pipeline dispatch. Nothing here touches the GPU; only the `read_*`
//! functions touch the file system.

mod csv;
pub mod features;
pub mod files;
pub mod labels;
pub mod metrics;
pub mod pipeline;
pub mod sequence;
pub mod span;
pub mod token;

use crate::model::weights::HeadKind;
use crate::tokenizer::BertTokenizer;
use crate::{bail, BertConfig, Error, Result};
pub use features::{argmax, char_offsets, char_slice, softmax};
use features::{Feature, FeatureSettings};
pub use labels::{is_regression, problem_type, LabelMap};
use metrics::Metrics;
use pipeline::{check_questions, check_texts, PipelineModel, PipelineRows, PredictInput};

/// The label of a position or example that is not scored (transformers' -100 as an unsigned id).
pub use crate::model::task::IGNORE;

/// A fine-tuning task as the command line and the page name it (`seq-cls`, `pair-cls`, `token-cls`, `qa`):
/// the head it trains, and for `pair-cls` that every row is a text pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub head: HeadKind,
    /// Every row a pair `[CLS] A [SEP] B [SEP]` (`pair-cls`); `seq-cls` takes single texts or pairs.
    pub pairs: bool,
}

impl Task {
    /// The names of the command line: `seq-cls`, `pair-cls`, `token-cls`, `qa`.
    pub const NAMES: [&'static str; 4] = ["seq-cls", "pair-cls", "token-cls", "qa"];

    pub fn parse(name: &str) -> Result<Task> {
        let (head, pairs) = match name {
            "seq-cls" => (HeadKind::Sequence, false),
            "pair-cls" => (HeadKind::Sequence, true),
            "token-cls" => (HeadKind::Token, false),
            "qa" => (HeadKind::Span, false),
            _ => bail!("unknown task {name:?}: expected one of {}", Task::NAMES.join(", ")),
        };
        Ok(Task { head, pairs })
    }

    /// Whether the head's outputs are named labels (classes or tags): not for a head with fixed outputs
    /// (QA's start and end) nor for a regression.
    pub fn labelled(self, regression: bool) -> bool {
        self.head.fixed_outputs().is_none() && !regression
    }

    /// The metric early stopping and the best model follow, and whether higher is better.
    pub fn main_metric(self, regression: bool) -> (&'static str, bool) {
        match self.head {
            _ if regression => ("mse", false),
            HeadKind::Sequence => ("accuracy", true),
            HeadKind::Token | HeadKind::Span => ("f1", true),
        }
    }

    /// What turns the main metric into a share of 1 for plotting: 0.01 for SQuAD's percentages.
    pub fn metric_scale(self) -> f64 {
        match self.head {
            HeadKind::Span => 0.01,
            _ => 1.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self.head {
            HeadKind::Sequence if self.pairs => "pair-cls",
            HeadKind::Sequence => "seq-cls",
            HeadKind::Token => "token-cls",
            HeadKind::Span => "qa",
        }
    }
}

/// The task a model with this head is evaluated on (rows as the file gives them: single texts or pairs).
impl From<HeadKind> for Task {
    fn from(head: HeadKind) -> Task {
        Task { head, pairs: false }
    }
}

/// Checks a pipeline's inputs for a head of `kind`: texts for the classification heads (single texts for
/// token classification), questions with their contexts for question answering.
pub fn check_predict_inputs(kind: HeadKind, inputs: &[PredictInput]) -> Result<()> {
    match kind {
        HeadKind::Sequence => check_texts(inputs, kind.architecture(), true),
        HeadKind::Token => check_texts(inputs, kind.architecture(), false),
        HeadKind::Span => check_questions(inputs),
    }
}

/// The rows of a chunk of checked inputs for a head of `kind`, and what turns their logits into results.
pub fn pipeline_rows<'a>(
    kind: HeadKind,
    model: &'a PipelineModel,
    inputs: &[PredictInput],
) -> Result<PipelineRows<'a>> {
    match kind {
        HeadKind::Sequence => sequence::pipeline_rows(model, inputs),
        HeadKind::Token => token::pipeline_rows(model, inputs),
        HeadKind::Span => span::pipeline_rows(model, inputs),
    }
}

/// The examples of a file, by task.
#[derive(Clone, Debug)]
pub enum Examples {
    Text(Vec<sequence::TextExample>),
    Tokens(Vec<token::TokenExample>),
    Qa(Vec<span::QaExample>),
}

impl Examples {
    /// Parses a dataset file's contents for `task` (the format follows the file name's extension).
    pub fn parse(task: Task, text: &str, file: &str) -> Result<Examples> {
        Ok(match task.head {
            HeadKind::Sequence => Examples::Text(sequence::parse_text_examples(text, file)?),
            HeadKind::Token => Examples::Tokens(token::parse_token_examples(text, file)?),
            HeadKind::Span => Examples::Qa(span::parse_qa_examples(text, file)?),
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

    /// Checks that training or evaluation rows carry their targets: every row its label (tags, answers),
    /// and with `pairs` every row its second text. Errors name the file and the line (see
    /// [`sequence::check_labelled_texts`], [`token::check_tagged`], [`span::check_answered`]).
    pub fn check_targets(&self, file: &str, pairs: bool) -> Result<()> {
        match self {
            Examples::Text(e) => sequence::check_labelled_texts(e, file, pairs),
            Examples::Tokens(e) => token::check_tagged(e, file),
            Examples::Qa(e) => span::check_answered(e, file),
        }
    }

    /// The model inputs and targets of the examples (several per QA example when the context needs
    /// windows), and what turns the head's logits per feature into predictions per example (it keeps what
    /// the head needs beside the features: the words of each token, the windows of each context).
    /// `labels` None means regression for texts; with `training`, QA windows get answer-span targets.
    pub fn features(
        &self,
        tok: &BertTokenizer,
        labels: Option<&LabelMap>,
        settings: FeatureSettings,
        training: bool,
        file: &str,
    ) -> Result<(Vec<Feature>, Decode)> {
        let max = settings.max_len;
        Ok(match self {
            Examples::Text(e) => (
                sequence::text_features(tok, e, labels, max, file)?,
                sequence::decode(labels.is_none()),
            ),
            Examples::Tokens(e) => {
                let labels = labels.ok_or_else(|| Error::new(format!("{file}: token classification needs tags")))?;
                let f = token::token_features(tok, e, Some(labels), max, file)?;
                let words = f.iter().map(|t| t.word_ids.clone()).collect();
                (
                    f.into_iter().map(|t| t.feature).collect(),
                    token::decode(words, labels.clone()),
                )
            }
            Examples::Qa(e) => {
                let windows = span::qa_features(tok, e, max, settings.doc_stride, training)?;
                let features = windows.iter().map(|w| w.feature.clone()).collect();
                (features, span::decode(e.clone(), windows, settings.max_answer_len))
            }
        })
    }

    /// Checks that training examples can teach the head something: a classifier needs examples of two
    /// labels or more, a token classifier two tags or more, a regression two values or more. (Evaluation
    /// data may hold one class.)
    pub fn check_learnable(&self, features: &[Feature], file: &str) -> Result<()> {
        let rows = self.len();
        let values: Vec<f32> = features.iter().filter_map(|f| f.target.value()).collect();
        if let Some(&first) = values.first() {
            if values.iter().all(|&v| v == first) {
                bail!(
                    "{file}: every label is {first} (all {rows} rows); regression needs labels of two values or more"
                );
            }
            return Ok(());
        }
        let labels = self.label_values();
        let Some(&first) = labels.first() else { return Ok(()) };
        if labels.iter().any(|&l| l != first) {
            return Ok(());
        }
        Err(Error::new(match self {
            Examples::Tokens(_) => format!(
                "{file}: every tag is {first:?} (all {rows} sentences); a token classifier needs tags of two kinds or \
                 more"
            ),
            _ => format!(
                "{file}: every label is {first:?} (the label column of all {rows} rows); a classifier needs examples \
                 of two labels or more"
            ),
        }))
    }

    /// The head's metrics of `predictions` against the examples' labels (the targets of `features`).
    pub fn metrics(
        &self,
        features: &[Feature],
        predictions: &Predictions,
        labels: Option<&LabelMap>,
        file: &str,
    ) -> Result<Metrics> {
        let missing = || Error::new(format!("{file}: evaluation needs labelled examples"));
        Ok(match (self, predictions) {
            (Examples::Text(_), Predictions::Classes(pred)) => {
                let gold = features.iter().map(|f| f.target.class()).collect::<Option<Vec<u32>>>();
                Metrics::classification(&gold.ok_or_else(missing)?, pred, labels.map_or(0, |l| l.len()))
            }
            (Examples::Text(_), Predictions::Values(pred)) => {
                let gold = features.iter().map(|f| f.target.value()).collect::<Option<Vec<f32>>>();
                Metrics::regression(&gold.ok_or_else(missing)?, pred)
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
                let gold: Vec<Vec<String>> = (e.iter())
                    .map(|x| x.answers.iter().map(|a| a.text.clone()).collect())
                    .collect();
                Metrics::squad(pred, &gold)
            }
            _ => bail!("predictions do not match the task"),
        })
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

/// Turns a head's logits per feature (see `TaskData::logits`) into its predictions per example.
pub type Decode = Box<dyn Fn(&[Vec<f32>]) -> Predictions>;
