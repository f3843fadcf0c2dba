//! What the heads share between examples and the GPU: a feature (ids, type ids, its example and its
//! target), the target kinds, and the window settings. Each head makes its features in its own module
//! ([`super::sequence`], [`super::token`], [`super::span`]); no padding: the batcher pads.

use crate::{bail, Result};

/// One model input with its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// (T,) token ids, `[CLS]` first and `[SEP]` last, T <= max_len, no padding.
    pub ids: Vec<u32>,
    /// (T,) segment ids: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]` (QA: the context and its `[SEP]`).
    pub type_ids: Vec<u32>,
    /// Index of the example (in the slice given) this feature comes from; QA examples may give several.
    pub example: usize,
    pub target: Target,
    /// True when tokens were cut to fit max_len (QA: when the context needed more than one window).
    pub truncated: bool,
}

/// How examples become features: the window, and for QA the windows' overlap and the longest answer.
/// The default is transformers' question-answering pipeline (384, 128, 15).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureSettings {
    /// Tokens per feature, `[CLS]` and `[SEP]`s included.
    pub max_len: usize,
    /// QA: tokens shared by consecutive windows of a long context (transformers' `stride`).
    pub doc_stride: usize,
    /// QA: the longest answer, in tokens, that prediction and evaluation consider.
    pub max_answer_len: usize,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        FeatureSettings {
            max_len: 384,
            doc_stride: 128,
            max_answer_len: 15,
        }
    }
}

impl FeatureSettings {
    /// The settings for a model of `positions` max_position_embeddings: a window of 8 tokens up to
    /// `positions`, an answer of at least one token; the stride at most half a window. An error names the
    /// setting as `spell` writes its field name (`max_length`, `max_answer_length`).
    pub fn for_positions(self, positions: usize, spell: impl Fn(&str) -> String) -> Result<FeatureSettings> {
        if self.max_len > positions || self.max_len < 8 {
            bail!(
                "{} {}: must be between 8 and the model's max_position_embeddings ({positions})",
                spell("max_length"),
                self.max_len
            );
        }
        if self.max_answer_len == 0 {
            bail!("{} 0: must be at least 1", spell("max_answer_length"));
        }
        Ok(FeatureSettings {
            doc_stride: self.doc_stride.min(self.max_len / 2),
            ..self
        })
    }
}

/// What the head is trained to predict for a feature.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// No label (prediction).
    None,
    /// Class id of a classification example.
    Class(u32),
    /// Value of a regression example (one label).
    Value(f32),
    /// (T,) label id per token; [`IGNORE`](crate::model::task::IGNORE) on `[CLS]`, `[SEP]` and every word piece but a word's first.
    Tokens(Vec<u32>),
    /// Token indices (into `ids`) of the answer's first and last token; (0, 0), i.e. `[CLS]`, when the
    /// window does not hold the whole answer or the question has none.
    Span { start: u32, end: u32 },
}

impl Target {
    /// The class id of a classification target.
    pub fn class(&self) -> Option<u32> {
        match *self {
            Target::Class(c) => Some(c),
            _ => None,
        }
    }

    /// The value of a regression target.
    pub fn value(&self) -> Option<f32> {
        match *self {
            Target::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// Byte ranges into `text` (as the tokenizer reports them) as character ranges (Python `str` indices,
/// what transformers reports). A byte index inside a character counts the characters that start before it.
pub fn char_offsets(text: &str, byte_offsets: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // chars_before[b] = number of characters starting before byte b, for b in 0..=len.
    let mut chars_before = Vec::with_capacity(text.len() + 1);
    let mut count = 0;
    for b in 0..=text.len() {
        chars_before.push(count);
        if text.is_char_boundary(b) && b < text.len() {
            count += 1;
        }
    }
    let to_char = |b: usize| chars_before[b.min(text.len())];
    byte_offsets.iter().map(|&(s, e)| (to_char(s), to_char(e))).collect()
}

/// The text between two character offsets (clamped to the text).
pub fn char_slice(text: &str, start: usize, end: usize) -> String {
    text.chars().skip(start).take(end.saturating_sub(start)).collect()
}

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
