//! The sequence head (`BertForSequenceClassification`, tasks `seq-cls` and `pair-cls`) on the host: its
//! features (`[CLS] A [SEP] (B [SEP])`, type ids 0 / 1, longest-first truncation), its metrics (accuracy
//! and macro F1 as scikit-learn computes them) and its pipeline output (transformers' text-classification
//! with `top_k=None`).

mod data;
pub use data::*;

use super::features::{argmax, softmax};
use super::features::{Feature, Target};
use super::labels::{problem_type, LabelMap};
use super::metrics::Metrics;
use super::pipeline::{LabelScore, PipelineModel, PipelineRows, PredictInput, Prediction};
use super::{Decode, Predictions};
use crate::tokenizer::BertTokenizer;
use crate::{bail, BertConfig, Error, Result};

/// Classification features: `[CLS] text [SEP] (text_pair [SEP])`, truncated to `max_len` tokens longest
/// first (tokens leave the end of the longer text; both `[SEP]` stay). Targets: with `labels`, the id of
/// each example's label (an unknown label is an error naming `file:line`); with None (regression), the
/// label parsed as a number; an example without a label gets [`Target::None`].
pub fn text_features(
    tok: &BertTokenizer,
    examples: &[TextExample],
    labels: Option<&LabelMap>,
    max_len: usize,
    file: &str,
) -> Result<Vec<Feature>> {
    let mut out = Vec::with_capacity(examples.len());
    for (i, e) in examples.iter().enumerate() {
        let enc = (tok.encode(&e.text, e.text_pair.as_deref()))
            .map_err(|err| Error::new(format!("{file}:{}: {err}", e.line)))?;
        let (enc, truncated) = tok.truncate(enc, max_len);
        let target = match (&e.label, labels) {
            (None, _) => Target::None,
            (Some(l), Some(map)) => Target::Class(map.id(l, file, e.line)?),
            (Some(l), None) => match l.trim().parse::<f32>() {
                Ok(v) if v.is_finite() => Target::Value(v),
                _ => bail!(
                    "{file}:{}: label {l:?} is not a number; regression (a model with one output) needs numbers",
                    e.line
                ),
            },
        };
        out.push(Feature {
            ids: enc.ids,
            type_ids: enc.type_ids,
            example: i,
            target,
            truncated,
        });
    }
    Ok(out)
}

/// Fraction of equal pairs (0 for no pairs).
pub fn accuracy(gold: &[u32], pred: &[u32]) -> f64 {
    let n = gold.len().min(pred.len());
    if n == 0 {
        return 0.0;
    }
    gold.iter().zip(pred).filter(|(g, p)| g == p).count() as f64 / n as f64
}

/// Unweighted mean over labels of the per-label F1, as scikit-learn's `f1_score(average="macro")`: the
/// labels averaged are those below `n_labels` that occur in `gold` or `pred`.
pub fn macro_f1(gold: &[u32], pred: &[u32], n_labels: usize) -> f64 {
    // counts[label] = (true positives, false positives, false negatives)
    let mut counts = vec![(0usize, 0usize, 0usize); n_labels];
    for (&g, &p) in gold.iter().zip(pred) {
        if g == p {
            if let Some(c) = counts.get_mut(g as usize) {
                c.0 += 1;
            }
            continue;
        }
        if let Some(c) = counts.get_mut(p as usize) {
            c.1 += 1;
        }
        if let Some(c) = counts.get_mut(g as usize) {
            c.2 += 1;
        }
    }
    let f1s: Vec<f64> = (counts.iter())
        .filter(|c| c.0 + c.1 + c.2 > 0)
        .map(|&(tp, fp, fn_)| 2.0 * tp as f64 / (2 * tp + fp + fn_) as f64)
        .collect();
    if f1s.is_empty() {
        return 0.0;
    }
    f1s.iter().sum::<f64>() / f1s.len() as f64
}

/// What turns classification logits into scores (transformers' `function_to_apply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreFunction {
    Softmax,
    Sigmoid,
    /// The raw logit (regression).
    None,
}

impl ScoreFunction {
    /// transformers' default: none for `problem_type` "regression", sigmoid for
    /// "multi_label_classification" or one label, else softmax.
    pub fn from_config(config: &BertConfig, n_labels: usize) -> ScoreFunction {
        match problem_type(config) {
            Some("regression") => ScoreFunction::None,
            Some("multi_label_classification") => ScoreFunction::Sigmoid,
            _ if n_labels == 1 => ScoreFunction::Sigmoid,
            _ => ScoreFunction::Softmax,
        }
    }
}

/// Every label with its score, best first (equal scores keep label order): softmax over the logits, or
/// with one label (regression) the raw value.
pub fn classify(logits: &[f32], labels: &LabelMap) -> Vec<LabelScore> {
    let function = if logits.len() == 1 {
        ScoreFunction::None
    } else {
        ScoreFunction::Softmax
    };
    classify_with(logits, labels, function)
}

/// [`classify`] with an explicit score function.
pub fn classify_with(logits: &[f32], labels: &LabelMap, function: ScoreFunction) -> Vec<LabelScore> {
    let scores: Vec<f64> = match function {
        ScoreFunction::Softmax => softmax(logits),
        ScoreFunction::Sigmoid => logits.iter().map(|&v| 1.0 / (1.0 + (-(v as f64)).exp())).collect(),
        ScoreFunction::None => logits.iter().map(|&v| v as f64).collect(),
    };
    let mut out: Vec<LabelScore> = (scores.into_iter().enumerate())
        .map(|(i, score)| LabelScore {
            label: labels.name(i).to_string(),
            score,
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// Predictions from the logits per feature: the value of regression (`regression`), else the best class.
pub fn decode(regression: bool) -> Decode {
    Box::new(move |logits| match regression {
        true => Predictions::Values(logits.iter().map(|l| l[0]).collect()),
        false => Predictions::Classes(logits.iter().map(|l| argmax(l) as u32).collect()),
    })
}

/// transformers' text-classification pipeline on a chunk of text inputs (checked by
/// [`super::pipeline::check_texts`]): one row per text (with its pair), every label with its score.
pub fn pipeline_rows<'a>(model: &'a PipelineModel, inputs: &[PredictInput]) -> Result<PipelineRows<'a>> {
    let encodings = (inputs.iter().filter_map(PredictInput::text))
        .map(|(text, pair)| model.encode(text, pair))
        .collect::<Result<Vec<_>>>()?;
    let function = ScoreFunction::from_config(model.config, model.labels.len());
    Ok(PipelineRows {
        rows: encodings.into_iter().map(|e| (e.ids, e.type_ids)).collect(),
        outputs: Box::new(move |logits, _seq| {
            (logits.chunks_exact(model.labels.len()))
                .map(|row| Prediction::Labels(classify_with(row, &model.labels, function)))
                .collect()
        }),
    })
}

impl Metrics {
    /// Classification: `accuracy` and `macro_f1`.
    pub fn classification(gold: &[u32], pred: &[u32], n_labels: usize) -> Metrics {
        let mut m = Metrics::default();
        m.set("accuracy", accuracy(gold, pred))
            .set("macro_f1", macro_f1(gold, pred, n_labels));
        m
    }

    /// Regression: `mse`, the mean squared error.
    pub fn regression(gold: &[f32], pred: &[f32]) -> Metrics {
        let squared: f64 = gold.iter().zip(pred).map(|(g, p)| ((g - p) as f64).powi(2)).sum();
        let mut m = Metrics::default();
        m.set("mse", squared / gold.len().max(1) as f64);
        m
    }
}
