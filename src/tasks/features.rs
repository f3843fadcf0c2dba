//! Model inputs and training targets from dataset examples, as transformers' example scripts build them:
//! `[CLS] A [SEP] (B [SEP])` with type ids 0 / 1 and longest-first truncation (classification), pre-split
//! words with the label on each word's first piece (token classification), question-first windows over
//! the context with overlapping strides (QA). No padding: the batcher pads.

use std::ops::Range;

use super::data::{QaExample, TextExample, TokenExample};
use super::{char_offsets, LabelMap, IGNORE};
use crate::tokenizer::{BertTokenizer, Encoding};
use crate::{bail, Error, Result};

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
    /// Tokens per feature, [CLS] and [SEP]s included.
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
    /// (T,) label id per token; [`IGNORE`] on `[CLS]`, `[SEP]` and every word piece but a word's first.
    Tokens(Vec<u32>),
    /// Token indices (into `ids`) of the answer's first and last token; (0, 0), i.e. `[CLS]`, when the
    /// window does not hold the whole answer or the question has none.
    Span { start: u32, end: u32 },
}

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

/// A token-classification feature with the word of each token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenFeature {
    pub feature: Feature,
    /// (T,) index of the word each token belongs to; None for `[CLS]` and `[SEP]`.
    pub word_ids: Vec<Option<u32>>,
}

/// Encodes pre-split words as transformers' `is_split_into_words=True`: each word is tokenized on its own
/// and its pieces get its index as word id; `[CLS]` and `[SEP]` around them. Offsets are byte ranges
/// within each word.
pub fn encode_words(tok: &BertTokenizer, words: &[String]) -> Result<Encoding> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let enc = tok
        .inner()
        .encode(&words[..], true)
        .map_err(|e| Error::new(format!("tokenizer: {e}")))?;
    if enc.get_special_tokens_mask().iter().all(|&s| s != 0) {
        bail!("the words give no tokens");
    }
    Ok(Encoding::from(&enc))
}

/// Token-classification features, truncated to `max_len` tokens (the last words go; `[SEP]` stays).
/// With `labels` and tags, each word's tag id stands on its first piece and [`IGNORE`] elsewhere; an
/// unknown tag is an error naming `file:line` of the word ([`TokenExample::word_line`]) and the word.
/// Without, the target is [`Target::None`].
pub fn token_features(
    tok: &BertTokenizer,
    examples: &[TokenExample],
    labels: Option<&LabelMap>,
    max_len: usize,
    file: &str,
) -> Result<Vec<TokenFeature>> {
    let mut out = Vec::with_capacity(examples.len());
    for (i, e) in examples.iter().enumerate() {
        let enc = encode_words(tok, &e.tokens).map_err(|err| Error::new(format!("{file}:{}: {err}", e.line)))?;
        let (enc, truncated) = tok.truncate(enc, max_len);
        let target = match (&e.tags, labels) {
            (Some(tags), Some(map)) => {
                let ids = (tags.iter().enumerate())
                    .map(|(w, t)| {
                        map.id(t, file, e.word_line(w, file))
                            .map_err(|err| Error::new(format!("{err} (the tag of word {} {:?})", w + 1, e.tokens[w])))
                    })
                    .collect::<Result<Vec<u32>>>()?;
                let firsts = first_pieces(&enc.word_ids);
                Target::Tokens(
                    (enc.word_ids.iter().zip(&firsts))
                        .map(|(w, &first)| match (w, first) {
                            (Some(w), true) => ids.get(*w as usize).copied().unwrap_or(IGNORE),
                            _ => IGNORE,
                        })
                        .collect(),
                )
            }
            _ => Target::None,
        };
        let feature = Feature {
            ids: enc.ids,
            type_ids: enc.type_ids,
            example: i,
            target,
            truncated,
        };
        out.push(TokenFeature {
            feature,
            word_ids: enc.word_ids,
        });
    }
    Ok(out)
}

/// (T,) true at the first token of each word.
pub fn first_pieces(word_ids: &[Option<u32>]) -> Vec<bool> {
    (0..word_ids.len())
        .map(|i| word_ids[i].is_some() && (i == 0 || word_ids[i - 1] != word_ids[i]))
        .collect()
}

/// Per-word predictions from per-token predictions: the prediction at each word's first piece, for the
/// words the feature kept (a prefix of the sentence when it was truncated).
pub fn word_predictions(word_ids: &[Option<u32>], token_preds: &[u32]) -> Vec<u32> {
    (first_pieces(word_ids).iter().zip(token_preds))
        .filter(|(&first, _)| first)
        .map(|(_, &p)| p)
        .collect()
}

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
