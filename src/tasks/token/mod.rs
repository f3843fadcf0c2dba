//! The token head (`BertForTokenClassification`, task `token-cls`) on the host: its features (pre-split
//! words, the label on each word's first piece), its metrics (entity precision / recall / F1 as seqeval's
//! default mode computes them) and its pipeline output (transformers' token-classification with
//! `aggregation_strategy="simple"`). Offsets are characters.

mod data;
pub use data::*;

use std::collections::HashSet;

use serde::Serialize;

use super::features::{argmax, char_offsets, softmax};
use super::features::{Feature, Target};
use super::labels::LabelMap;
use super::metrics::Metrics;
use super::pipeline::{Entity, PipelineModel, PipelineRows, PredictInput, Prediction};
use super::{Decode, Predictions};
use crate::model::task::IGNORE;
use crate::tokenizer::{BertTokenizer, Encoding};
use crate::{bail, Error, Result};

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

/// Predictions from the logits per feature ((T * labels) each): the tag of each kept word, the best label of
/// its first piece. `word_ids` holds the word of each token of each feature.
pub fn decode(word_ids: Vec<Vec<Option<u32>>>, labels: LabelMap) -> Decode {
    Box::new(move |logits| {
        let tags = (logits.iter().zip(&word_ids))
            .map(|(l, words)| {
                let token_preds: Vec<u32> = l.chunks_exact(labels.len()).map(|row| argmax(row) as u32).collect();
                (word_predictions(words, &token_preds).iter())
                    .map(|&p| labels.name(p as usize).to_string())
                    .collect()
            })
            .collect();
        Predictions::Tags(tags)
    })
}

/// Precision, recall and F1, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// An entity: (type, sentence, first tag index, last tag index).
type Chunk = (String, usize, usize, usize);

/// The entities of one tag sequence as seqeval's `get_entities` finds them (IOB2/IOBES prefixes, not
/// strict): a chunk ends before `B`, `O`, `S` and a change of type, and starts at `B`, `S`, an `I`/`E`
/// after `O`/`E`/`S`, and any change of type. A tag without a prefix letter and dash (e.g. `PER`) is read
/// as seqeval does: its first character is the prefix.
pub fn entities(tags: &[String]) -> Vec<(String, usize, usize)> {
    let split = |t: &str| -> (char, String) {
        let mut chars = t.chars();
        let prefix = chars.next().unwrap_or('O');
        let rest = chars.as_str();
        let ty = rest.split_once('-').map_or(rest, |(_, ty)| ty);
        (prefix, if ty.is_empty() { "_".to_string() } else { ty.to_string() })
    };
    let (mut prev_tag, mut prev_type, mut begin) = ('O', String::new(), 0);
    let mut out = Vec::new();
    let end = "O".to_string();
    for (i, t) in tags.iter().chain(std::iter::once(&end)).enumerate() {
        let (tag, ty) = split(t);
        let ends = matches!(prev_tag, 'E' | 'S')
            || (matches!(prev_tag, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
            || (prev_tag != 'O' && prev_tag != '.' && prev_type != ty);
        let starts = matches!(tag, 'B' | 'S')
            || (matches!(prev_tag, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
            || (tag != 'O' && tag != '.' && prev_type != ty);
        if ends {
            out.push((prev_type.clone(), begin, i - 1));
        }
        if starts {
            begin = i;
        }
        (prev_tag, prev_type) = (tag, ty);
    }
    out
}

/// Micro-averaged entity precision / recall / F1 over all sentences, as seqeval's default
/// `precision_score`, `recall_score`, `f1_score`. Sentences pair up in order; 0 where a ratio has no
/// denominator.
pub fn entity_scores(gold_tags: &[Vec<String>], pred_tags: &[Vec<String>]) -> Prf {
    let collect = |sentences: &[Vec<String>]| -> HashSet<Chunk> {
        (sentences.iter().enumerate())
            .flat_map(|(s, tags)| entities(tags).into_iter().map(move |(ty, a, b)| (ty, s, a, b)))
            .collect()
    };
    let (gold, pred) = (collect(gold_tags), collect(pred_tags));
    let tp = gold.intersection(&pred).count() as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let (precision, recall) = (ratio(tp, pred.len() as f64), ratio(tp, gold.len() as f64));
    Prf {
        precision,
        recall,
        f1: ratio(2.0 * precision * recall, precision + recall),
    }
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

/// transformers' token-classification pipeline (aggregation "simple") on a chunk of single texts (checked
/// by [`super::pipeline::check_texts`]): one row per text, the entities of each.
pub fn pipeline_rows<'a>(model: &'a PipelineModel, inputs: &[PredictInput]) -> Result<PipelineRows<'a>> {
    let texts: Vec<String> = inputs
        .iter()
        .filter_map(PredictInput::text)
        .map(|t| t.0.to_string())
        .collect();
    let encodings = texts
        .iter()
        .map(|t| model.encode(t, None))
        .collect::<Result<Vec<_>>>()?;
    Ok(PipelineRows {
        rows: encodings.iter().map(|e| (e.ids.clone(), e.type_ids.clone())).collect(),
        outputs: Box::new(move |logits, seq| {
            let per = seq * model.labels.len();
            (texts.iter().zip(&encodings).zip(logits.chunks_exact(per)))
                .map(|((text, enc), rows)| {
                    Prediction::Entities(aggregate_entities(model.tokenizer, text, enc, rows, &model.labels))
                })
                .collect()
        }),
    })
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

impl Metrics {
    /// Token classification: entity `precision`, `recall`, `f1`.
    pub fn entities(gold_tags: &[Vec<String>], pred_tags: &[Vec<String>]) -> Metrics {
        let s = entity_scores(gold_tags, pred_tags);
        let mut m = Metrics::default();
        m.set("precision", s.precision).set("recall", s.recall).set("f1", s.f1);
        m
    }
}
