//! What the task pipelines share: their inputs, their results in the JSON shapes of transformers'
//! pipelines (labels with scores, entities, an answer), and the rows a chunk of inputs becomes. Each head turns inputs into rows and logits into
//! results in its own module (`pipeline_rows` in [`super::sequence`], [`super::token`], [`super::span`]);
//! `Bert::predict` (in `pipelines`) batches the rows and runs the model between the two.

use serde::Serialize;

use super::features::FeatureSettings;
use super::labels::LabelMap;
use crate::tokenizer::{BertTokenizer, Encoding};
use crate::{bail, BertConfig, Result};

/// One input of a pipeline: a text (with its pair, for sentence-pair classification) for the
/// classification heads, a question about a context for question answering.
#[derive(Clone, Debug, PartialEq)]
pub enum PredictInput {
    Text { text: String, text_pair: Option<String> },
    Question { question: String, context: String },
}

impl PredictInput {
    /// The text and its pair, for a text input.
    pub fn text(&self) -> Option<(&str, Option<&str>)> {
        match self {
            PredictInput::Text { text, text_pair } => Some((text, text_pair.as_deref())),
            PredictInput::Question { .. } => None,
        }
    }

    /// The question and its context, for a question input.
    pub fn question(&self) -> Option<(&str, &str)> {
        match self {
            PredictInput::Question { question, context } => Some((question, context)),
            PredictInput::Text { .. } => None,
        }
    }
}

/// Checks that every input is a text, for a head named `architecture`: with `pairs`, all texts or none
/// have a pair; without, none has. Errors name the input at fault as `inputs[i]`.
pub fn check_texts(inputs: &[PredictInput], architecture: &str, pairs: bool) -> Result<()> {
    if let Some(i) = inputs.iter().position(|x| x.text().is_none()) {
        bail!("inputs[{i}]: a {architecture} takes texts, not a question and a context");
    }
    let paired = inputs
        .iter()
        .filter(|x| x.text().is_some_and(|t| t.1.is_some()))
        .count();
    if !pairs && paired > 0 {
        bail!("a {architecture} takes single texts, not pairs");
    }
    if paired != 0 && paired != inputs.len() {
        bail!("some inputs have a text_pair and some do not");
    }
    Ok(())
}

/// Checks that every input is a question with its context (errors name `inputs[i]`).
pub fn check_questions(inputs: &[PredictInput]) -> Result<()> {
    if let Some(i) = inputs.iter().position(|x| x.question().is_none()) {
        bail!("inputs[{i}]: question answering expects a question and a context, not a text");
    }
    Ok(())
}

/// One label of a text-classification output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub score: f64,
}

/// One entity of a token-classification output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    /// The label without its `B-` / `I-` prefix.
    pub entity_group: String,
    /// Mean of the group's token scores (each token's largest softmax probability).
    pub score: f64,
    /// The group's tokens decoded (`walk ##ed` -> `walked`).
    pub word: String,
    /// Character offsets of the group in the text.
    pub start: usize,
    pub end: usize,
}

/// A question-answering output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QaAnswer {
    /// Pipeline: p_start · p_end; evaluation search: start_logit + end_logit.
    pub score: f64,
    /// Character offsets of the answer in the context.
    pub start: usize,
    pub end: usize,
    pub answer: String,
}

/// One result of a pipeline; serialised as transformers' pipeline gives it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Prediction {
    /// text-classification: every label with its score, best first.
    Labels(Vec<LabelScore>),
    /// token-classification: the entities of the text.
    Entities(Vec<Entity>),
    /// question-answering: the best answer, or null when the context gives no span.
    Answer(Option<QaAnswer>),
}

impl Prediction {
    /// The result under its input, as `bert-wgpu predict` prints it without `--json`: the best label
    /// before the text, the entities below it, or the answer below the question.
    pub fn summary(&self, input: &PredictInput) -> String {
        let said = match input {
            PredictInput::Text { text, .. } => text,
            PredictInput::Question { question, .. } => question,
        };
        match self {
            Prediction::Labels(scores) => match scores.first() {
                Some(best) => format!("{:<10} {:.4}  {said}", best.label, best.score),
                None => said.to_string(),
            },
            Prediction::Entities(entities) => {
                let lines = entities.iter().map(|e| {
                    let (group, score, word) = (&e.entity_group, e.score, &e.word);
                    format!("\n  {group:<8} {score:.4}  {word:?} [{}..{}]", e.start, e.end)
                });
                format!("{said}{}", lines.collect::<String>())
            }
            Prediction::Answer(Some(a)) => format!("{said}\n  {:?} {:.4} [{}..{}]", a.answer, a.score, a.start, a.end),
            Prediction::Answer(None) => format!("{said}\n  (no answer)"),
        }
    }
}

/// What every head's pipeline reads from the model, besides its inputs.
pub struct PipelineModel<'a> {
    pub tokenizer: &'a BertTokenizer,
    pub config: &'a BertConfig,
    /// The head's label names (config.json's `id2label`, else `LABEL_<i>`).
    pub labels: LabelMap,
    /// Question answering: the window over the context, its stride and the longest answer.
    pub settings: FeatureSettings,
}

impl PipelineModel<'_> {
    /// `[CLS] text [SEP] (pair [SEP])`, truncated at the model's positions.
    pub fn encode(&self, text: &str, pair: Option<&str>) -> Result<Encoding> {
        let enc = self.tokenizer.encode(text, pair)?;
        Ok(self.tokenizer.truncate(enc, self.config.max_position_embeddings).0)
    }
}

/// Turns the logits of a chunk's rows into its results: (logits of every row, padded to `seq` tokens in
/// the head's layout, as `Bert::task_logits` gives them; `seq`) -> one result per input.
pub type Outputs<'a> = Box<dyn FnOnce(&[f32], usize) -> Vec<Prediction> + 'a>;

/// The model rows a chunk of inputs becomes (several per question when its context needs windows), and
/// what turns their logits into one result per input.
pub struct PipelineRows<'a> {
    /// (token ids, type ids) of each row, unpadded.
    pub rows: Vec<(Vec<u32>, Vec<u32>)>,
    pub outputs: Outputs<'a>,
}
