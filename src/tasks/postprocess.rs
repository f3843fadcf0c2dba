//! Pipeline outputs from logits, in the JSON shapes of transformers' pipelines: text-classification
//! (`top_k=None`), token-classification (`aggregation_strategy="simple"`) and question-answering (the
//! 4.x pipeline's span search), plus the span search of the QA evaluation. Offsets are characters.

use std::ops::Range;

use serde::Serialize;

use super::features::QaFeature;
use super::{char_offsets, char_slice, problem_type, LabelMap};
use crate::tokenizer::{BertTokenizer, Encoding};
use crate::BertConfig;

/// Index of the largest value (the first of equal ones; 0 for an empty row).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Softmax of a row, in f64.
pub fn softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exp: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// One label of a text-classification output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub score: f64,
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

/// A token scored by its argmax label.
struct Scored {
    /// Label id of the largest logit.
    label: usize,
    /// Its softmax probability.
    score: f64,
    /// Token id.
    id: u32,
    /// Character range in the text.
    chars: (usize, usize),
}

/// transformers' `get_tag`: (`B` or `I`, type); a label without a `B-`/`I-` prefix continues (`I`).
fn split_tag(label: &str) -> (char, &str) {
    match (label.strip_prefix("B-"), label.strip_prefix("I-")) {
        (Some(ty), _) => ('B', ty),
        (_, Some(ty)) => ('I', ty),
        _ => ('I', label),
    }
}

/// Token classification with aggregation "simple": per token (special tokens skipped) the argmax label
/// and its softmax probability; consecutive tokens form a group while the next has the group's type and
/// no `B-` prefix; a group's score is the mean, its word the decoded tokens, start/end the character
/// offsets of its first and last token in `text`; `O` groups are dropped. `enc` is `text` encoded
/// (byte offsets, as [`BertTokenizer::encode`] gives them); `logits` is (T, labels) row-major.
pub fn aggregate_entities(
    tok: &BertTokenizer,
    text: &str,
    enc: &Encoding,
    logits: &[f32],
    labels: &LabelMap,
) -> Vec<Entity> {
    let n = labels.len().max(1);
    let offsets = char_offsets(text, &enc.offsets);
    let tokens: Vec<Scored> = (logits.chunks_exact(n).enumerate())
        .take(enc.len())
        .filter(|(t, _)| !enc.special[*t])
        .map(|(t, row)| {
            let label = argmax(row);
            Scored {
                label,
                score: softmax(row)[label],
                id: enc.ids[t],
                chars: offsets[t],
            }
        })
        .collect();
    let mut groups: Vec<Vec<&Scored>> = Vec::new();
    for token in &tokens {
        let (bi, ty) = split_tag(labels.name(token.label));
        match groups.last_mut() {
            Some(g) if bi != 'B' && split_tag(labels.name(g[g.len() - 1].label)).1 == ty => g.push(token),
            _ => groups.push(vec![token]),
        }
    }
    (groups.into_iter())
        .filter_map(|g| {
            let (first, last) = (g[0], g[g.len() - 1]);
            let entity_group = split_tag(labels.name(first.label)).1.to_string();
            if entity_group == "O" {
                return None;
            }
            let ids: Vec<u32> = g.iter().map(|t| t.id).collect();
            Some(Entity {
                entity_group,
                score: g.iter().map(|t| t.score).sum::<f64>() / g.len() as f64,
                word: tok.inner().decode(&ids, false).unwrap_or_default(),
                start: first.chars.0,
                end: last.chars.1,
            })
        })
        .collect()
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

impl QaAnswer {
    /// The answer at characters `start..end` of `context`.
    fn in_context(context: &str, score: f64, start: usize, end: usize) -> QaAnswer {
        QaAnswer {
            score,
            start,
            end,
            answer: char_slice(context, start, end),
        }
    }
}

/// The logits of one window: its feature, (T,) start logits, (T,) end logits.
pub type WindowLogits<'a> = (&'a QaFeature, &'a [f32], &'a [f32]);

/// Character range of the whole word of context token `t` (as `word_to_chars` within the window).
fn word_chars(f: &QaFeature, t: usize) -> Option<(usize, usize)> {
    let word = f.word_ids.get(t).copied().flatten()?;
    let ranges = f
        .context
        .clone()
        .filter(|&u| f.word_ids[u] == Some(word))
        .filter_map(|u| f.offsets[u]);
    ranges.fold(None, |acc: Option<(usize, usize)>, (s, e)| {
        Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
    })
}

/// transformers 4.x `QuestionAnsweringPipeline` (top_k 1, no impossible answer, align_to_words): per
/// window a softmax of the start and of the end logits over the context tokens and `[CLS]`, `[CLS]` then
/// zeroed, the span with the largest p_start · p_end with end >= start and at most `max_answer_len`
/// tokens (pipeline default 15), widened to whole words; the best window wins (the first of equal ones).
/// None without windows.
pub fn best_answer(context: &str, windows: &[WindowLogits], max_answer_len: usize) -> Option<QaAnswer> {
    let mut best: Option<QaAnswer> = None;
    for &(f, start_logits, end_logits) in windows {
        let t = f.feature.ids.len().min(start_logits.len()).min(end_logits.len());
        let allowed: Vec<usize> = std::iter::once(0).chain(f.context.clone()).filter(|&i| i < t).collect();
        let probs = |logits: &[f32]| -> Vec<f64> {
            let p = softmax(&allowed.iter().map(|&i| logits[i]).collect::<Vec<_>>());
            let mut full = vec![0.0; t];
            for (&i, p) in allowed.iter().zip(p) {
                full[i] = if i == 0 { 0.0 } else { p };
            }
            full
        };
        let (ps, pe) = (probs(start_logits), probs(end_logits));
        let Some((s_best, e_best, score)) = best_span(0..t, max_answer_len, |s, e| ps[s] * pe[e]) else {
            continue;
        };
        let span = word_chars(f, s_best).zip(word_chars(f, e_best));
        let (start, end) = span.map_or((0, 0), |((a, _), (_, b))| (a, b));
        if best.as_ref().is_none_or(|b| score > b.score) {
            best = Some(QaAnswer::in_context(context, score, start, end));
        }
    }
    best
}

/// The span search of the QA evaluation: per window the context span with end >= start and at most
/// `max_answer_len` tokens with the largest start_logit + end_logit, its text the characters from its
/// first token's start to its last token's end; the best over windows. None without context tokens.
pub fn best_answer_by_logits(context: &str, windows: &[WindowLogits], max_answer_len: usize) -> Option<QaAnswer> {
    let mut best: Option<QaAnswer> = None;
    for &(f, start_logits, end_logits) in windows {
        let t = f.context.end.min(start_logits.len()).min(end_logits.len());
        let score = |s: usize, e: usize| start_logits[s] as f64 + end_logits[e] as f64;
        let Some((s, e, score)) = best_span(f.context.start..t, max_answer_len, score) else {
            continue;
        };
        if best.as_ref().is_some_and(|b| score <= b.score) {
            continue;
        }
        if let (Some((start, _)), Some((_, end))) = (f.offsets[s], f.offsets[e]) {
            best = Some(QaAnswer::in_context(context, score, start, end));
        }
    }
    best
}

/// The (start, end, score) with start <= end in `tokens`, at most `max_len` tokens, of the largest score:
/// the first in (start, end) order among equal ones. None for an empty range or `max_len` 0.
fn best_span(tokens: Range<usize>, max_len: usize, score: impl Fn(usize, usize) -> f64) -> Option<(usize, usize, f64)> {
    let mut best: Option<(usize, usize, f64)> = None;
    for s in tokens.clone() {
        for e in s..tokens.end.min(s + max_len) {
            let v = score(s, e);
            if best.is_none_or(|b| v > b.2) {
                best = Some((s, e, v));
            }
        }
    }
    best
}
