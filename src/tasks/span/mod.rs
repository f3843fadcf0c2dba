//! The span head (`BertForQuestionAnswering`, task `qa`) on the host: its features (question-first windows
//! over the context with overlapping strides), its metrics (SQuAD v1.1 exact match and F1) and its outputs
//! (the 4.x question-answering pipeline's span search, and the span search of the evaluation). Offsets are
//! characters.

mod data;
pub use data::*;

use std::collections::HashMap;
use std::ops::Range;

use super::features::{char_offsets, char_slice, softmax};
use super::features::{Feature, FeatureSettings, Target};
use super::metrics::Metrics;
use super::pipeline::{PipelineModel, PipelineRows, PredictInput, Prediction, QaAnswer};
use super::{Decode, Predictions};
use crate::tokenizer::BertTokenizer;
use crate::{bail, Error, Result};

/// A window of a QA example: `[CLS] question [SEP] part of the context [SEP]`.
#[derive(Debug, Clone, PartialEq)]
pub struct QaFeature {
    /// ids, type ids (1 from the first context token), the example index and the answer span.
    pub feature: Feature,
    /// Token indices (into `feature.ids`) of the window's context tokens.
    pub context: Range<usize>,
    /// (T,) character range of each token in the example's context; None outside the context tokens.
    pub offsets: Vec<Option<(usize, usize)>>,
    /// (T,) index of each context token's word in the context (pre-tokenizer words: whitespace and
    /// punctuation split them); None outside the context tokens.
    pub word_ids: Vec<Option<u32>>,
}

/// QA features as transformers' `tokenizer(question, context, truncation="only_second",
/// max_length=max_len, stride=stride, return_overflowing_tokens=True)`: the question whole in every
/// window, the context cut into windows of `max_len - question - 3` tokens where consecutive windows share
/// `stride` tokens. With `training`, the target is the first answer's token span in each window, (0, 0)
/// where the window does not hold all of it (run_qa.py's convention); else [`Target::None`]. Errors name
/// the question id: a question that leaves no room for `stride + 1` context tokens, texts without tokens.
pub fn qa_features(
    tok: &BertTokenizer,
    examples: &[QaExample],
    max_len: usize,
    stride: usize,
    training: bool,
) -> Result<Vec<QaFeature>> {
    let mut out = Vec::new();
    for (i, e) in examples.iter().enumerate() {
        let enc = (tok.encode(&e.question, Some(&e.context)))
            .map_err(|err| Error::new(format!("question {}: {err}", e.id)))?;
        let part = |type_id: u32| -> Vec<usize> {
            (0..enc.len())
                .filter(|&t| !enc.special[t] && enc.type_ids[t] == type_id)
                .collect()
        };
        let (question, context) = (part(0), part(1));
        let budget = max_len.saturating_sub(question.len() + 3);
        if budget <= stride {
            bail!(
                "question {}: the question has {} tokens, which leaves {budget} of max_len {max_len} for the \
                 context; the stride ({stride}) needs more",
                e.id,
                question.len()
            );
        }
        let byte_offsets: Vec<(usize, usize)> = context.iter().map(|&t| enc.offsets[t]).collect();
        let char_ranges = char_offsets(&e.context, &byte_offsets);
        let answer = (e.answers.first()).map(|a| (a.start, a.start + a.text.chars().count()));
        let mut start = 0;
        loop {
            let end = (start + budget).min(context.len());
            let first = question.len() + 2; // index of the first context token in the window
            let mut f = QaFeature {
                feature: Feature {
                    ids: vec![tok.cls_id()],
                    type_ids: vec![0; first],
                    example: i,
                    target: Target::None,
                    truncated: budget < context.len(),
                },
                context: first..first + end - start,
                offsets: vec![None; first],
                word_ids: vec![None; first],
            };
            f.feature.ids.extend(question.iter().map(|&t| enc.ids[t]));
            f.feature.ids.push(tok.sep_id());
            f.feature.ids.extend(context[start..end].iter().map(|&t| enc.ids[t]));
            f.feature.ids.push(tok.sep_id());
            f.feature.type_ids.resize(f.feature.ids.len(), 1);
            f.offsets.extend(char_ranges[start..end].iter().map(|&r| Some(r)));
            f.offsets.push(None);
            f.word_ids.extend(context[start..end].iter().map(|&t| enc.word_ids[t]));
            f.word_ids.push(None);
            if training {
                let span = answer.and_then(|a| answer_span(&char_ranges[start..end], a));
                let (s, e) = span.map_or((0, 0), |(s, e)| ((first + s) as u32, (first + e) as u32));
                f.feature.target = Target::Span { start: s, end: e };
            }
            out.push(f);
            if end == context.len() {
                break;
            }
            start += budget - stride;
        }
    }
    Ok(out)
}

/// The features of each example, in example order: [`qa_features`] gives every example one or more
/// consecutive windows, so these ranges index the feature slice.
pub fn example_ranges(features: &[QaFeature]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        match out.last_mut() {
            Some(r) if features[r.start].feature.example == f.feature.example => r.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

/// Each example's windows with their start and end logits (`logits(i)` of window i), in example order,
/// with the example's context: what the span searches take.
fn windows_by_example<'a>(
    examples: &'a [QaExample],
    windows: &'a [QaFeature],
    logits: impl Fn(usize) -> (&'a [f32], &'a [f32]),
) -> impl Iterator<Item = (&'a str, Vec<WindowLogits<'a>>)> {
    example_ranges(windows).into_iter().map(move |range| {
        let context = &examples[windows[range.start].feature.example].context;
        let per = range.map(|i| {
            let (start, end) = logits(i);
            (&windows[i], start, end)
        });
        (context.as_str(), per.collect())
    })
}

/// Indices (into `ranges`) of the first and last token of the character range `answer`, or None when
/// the tokens do not cover all of it.
fn answer_span(ranges: &[(usize, usize)], (start, end): (usize, usize)) -> Option<(usize, usize)> {
    let (first, last) = (ranges.first()?, ranges.last()?);
    if first.0 > start || last.1 < end {
        return None;
    }
    let s = ranges.iter().rposition(|r| r.0 <= start)?;
    let e = s + ranges[s..].iter().position(|r| r.1 >= end)?;
    Some((s, e))
}

/// SQuAD's `normalize_answer`: lower case, ASCII punctuation removed, the words a / an / the removed,
/// whitespace collapsed to single spaces.
pub fn normalize_answer(s: &str) -> String {
    let lowered: String = s.to_lowercase().chars().filter(|c| !c.is_ascii_punctuation()).collect();
    // Articles as regex \b(a|an|the)\b: a maximal run of word characters equal to an article.
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(lowered.len());
    let mut run = String::new();
    for c in lowered.chars().chain(std::iter::once(' ')) {
        if word(c) {
            run.push(c);
            continue;
        }
        if !matches!(run.as_str(), "a" | "an" | "the") {
            out.push_str(&run);
        } else {
            out.push(' ');
        }
        run.clear();
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SQuAD token-overlap F1 of one prediction against one gold answer (0 when either is empty).
pub fn squad_f1(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_answer(prediction), normalize_answer(gold));
    let (p, g): (Vec<&str>, Vec<&str>) = (p.split_whitespace().collect(), g.split_whitespace().collect());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &g {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0;
    for t in &p {
        if let Some(c) = counts.get_mut(t).filter(|c| **c > 0) {
            *c -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let (precision, recall) = (same as f64 / p.len() as f64, same as f64 / g.len() as f64);
    2.0 * precision * recall / (precision + recall)
}

/// SQuAD exact match and F1 in 0..=100: per question the best over its gold answers, then the mean.
/// A question without gold answers scores 0.
pub fn squad_scores(predictions: &[String], golds: &[Vec<String>]) -> (f64, f64) {
    let n = predictions.len().min(golds.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let (mut em, mut f1) = (0.0, 0.0);
    for (p, gs) in predictions.iter().zip(golds) {
        let np = normalize_answer(p);
        em += gs
            .iter()
            .map(|g| f64::from(u8::from(normalize_answer(g) == np)))
            .fold(0.0, f64::max);
        f1 += gs.iter().map(|g| squad_f1(p, g)).fold(0.0, f64::max);
    }
    (100.0 * em / n as f64, 100.0 * f1 / n as f64)
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

/// transformers' question-answering pipeline on a chunk of questions (checked by
/// [`super::pipeline::check_questions`]): windows of each context (the model's settings, capped by its
/// positions), the best answer of each question over its windows (None when no window gives a span).
pub fn pipeline_rows<'a>(model: &'a PipelineModel, inputs: &[PredictInput]) -> Result<PipelineRows<'a>> {
    // The window capped by the model, then checked: at least 8 tokens, an answer of at least one.
    let positions = model.config.max_position_embeddings;
    let s = model.settings;
    let s = FeatureSettings {
        max_len: s.max_len.min(positions),
        ..s
    }
    .for_positions(positions, str::to_string)?;
    let examples: Vec<QaExample> = (inputs.iter().filter_map(PredictInput::question).enumerate())
        .map(|(i, (question, context))| QaExample {
            id: format!("#{}", i + 1),
            question: question.to_string(),
            context: context.to_string(),
            answers: Vec::new(),
        })
        .collect();
    let windows = qa_features(model.tokenizer, &examples, s.max_len, s.doc_stride, false)?;
    Ok(PipelineRows {
        rows: windows
            .iter()
            .map(|w| (w.feature.ids.clone(), w.feature.type_ids.clone()))
            .collect(),
        outputs: Box::new(move |logits, seq| {
            // (windows, seq) start logits, then (windows, seq) end logits.
            let (starts, ends) = logits.split_at(windows.len() * seq);
            let row = |i: usize| (&starts[i * seq..(i + 1) * seq], &ends[i * seq..(i + 1) * seq]);
            (windows_by_example(&examples, &windows, row))
                .map(|(context, per)| Prediction::Answer(best_answer(context, &per, s.max_answer_len)))
                .collect()
        }),
    })
}

/// Predictions from the logits per window (start logits then end logits): the answer text of each example
/// by the evaluation's span search over its windows, empty when no window gives a span.
pub fn decode(examples: Vec<QaExample>, windows: Vec<QaFeature>, max_answer_len: usize) -> Decode {
    Box::new(move |logits| {
        let row = |i: usize| logits[i].split_at(logits[i].len() / 2);
        let answers = (windows_by_example(&examples, &windows, row))
            .map(|(context, per)| best_answer_by_logits(context, &per, max_answer_len).map(|a| a.answer))
            .map(Option::unwrap_or_default)
            .collect();
        Predictions::Answers(answers)
    })
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

impl Metrics {
    /// QA: `exact_match` and `f1`, 0..=100.
    pub fn squad(predictions: &[String], golds: &[Vec<String>]) -> Metrics {
        let (em, f1) = squad_scores(predictions, golds);
        let mut m = Metrics::default();
        m.set("exact_match", em).set("f1", f1);
        m
    }
}
