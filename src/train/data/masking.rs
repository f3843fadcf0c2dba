//! Masked-LM predictions exactly as the original BERT's `create_masked_lm_predictions`
//! (google-research/bert, `create_pretraining_data.py`): shuffle the candidate positions (everything but
//! `[CLS]`, `[SEP]` and padding; with whole-word masking a word and its `##` pieces form one candidate),
//! take num_to_predict = min(max_predictions_per_seq, max(1, round(len · masked_lm_prob))) positions, and
//! replace each by `[MASK]` (80%), keep it (10%) or put a token drawn uniformly from the whole vocabulary
//! (10%). Positions come out sorted.
//!
//! Two details: `len` counts the special tokens, as the original does, and `round` halves to even as
//! Python 3's `round` does. With whole-word masking a `##` piece joins the candidate of the token right
//! before it only (the original also joins a `##` piece that begins segment B after the `[SEP]`, across
//! the separator, to the last word of A); the 80/10/10 choice is made per piece, as in the original.

use super::instance::{Instance, MaskKind, PretrainingOptions};
use crate::rng::Rng;
use crate::tokenizer::BertTokenizer;
use crate::{bail, Result};

/// The token ids that instance creation and masking need: the specials, the vocabulary size, and which
/// ids are `##` continuation pieces (for whole-word masking).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskingVocab {
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
    pub mask: u32,
    /// Random replacements are drawn uniformly from 0..vocab_size, specials included, as the original
    /// draws from all of `vocab_words`.
    pub vocab_size: u32,
    /// subword[id]: the token starts with `##`.
    subword: Vec<bool>,
}

impl MaskingVocab {
    /// Reads the ids from a tokenizer. A vocabulary without `[MASK]` cannot serve pretraining.
    pub fn from_tokenizer(tokenizer: &BertTokenizer) -> Result<MaskingVocab> {
        let Some(mask) = tokenizer.mask_id() else {
            bail!("the vocabulary has no [MASK] token, which masked-LM pretraining needs");
        };
        let vocab_size = tokenizer.vocab_size();
        let subword = (0..vocab_size as u32)
            .map(|id| tokenizer.id_to_token(id).is_some_and(|t| t.starts_with("##")))
            .collect();
        MaskingVocab::new(
            tokenizer.cls_id(),
            tokenizer.sep_id(),
            tokenizer.pad_id(),
            mask,
            subword,
        )
    }

    /// From explicit ids; `subword` has one entry per vocabulary id (its length is the vocabulary size).
    pub fn new(cls: u32, sep: u32, pad: u32, mask: u32, subword: Vec<bool>) -> Result<MaskingVocab> {
        let vocab_size = subword.len() as u32;
        for (name, id) in [("[CLS]", cls), ("[SEP]", sep), ("[PAD]", pad), ("[MASK]", mask)] {
            if id >= vocab_size {
                bail!("{name} id {id} is outside the vocabulary of {vocab_size} tokens");
            }
        }
        Ok(MaskingVocab {
            cls,
            sep,
            pad,
            mask,
            vocab_size,
            subword,
        })
    }

    /// `[CLS]`, `[SEP]` or `[PAD]`: never a masking candidate.
    pub fn is_special(&self, id: u32) -> bool {
        id == self.cls || id == self.sep || id == self.pad
    }

    /// A `##` continuation piece.
    pub fn is_subword(&self, id: u32) -> bool {
        self.subword.get(id as usize).copied().unwrap_or(false)
    }
}

/// A sequence after masking: the input ids and, per chosen position (ascending), its original token and
/// what was done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Masked {
    pub ids: Vec<u32>,
    pub positions: Vec<usize>,
    pub labels: Vec<u32>,
    pub kinds: Vec<MaskKind>,
}

/// min(max_predictions_per_seq, max(1, round(len · masked_lm_prob))), `len` including the specials.
pub fn num_to_predict(len: usize, opts: &PretrainingOptions) -> usize {
    let n = (len as f64 * opts.masked_lm_prob).round_ties_even() as usize;
    n.max(1).min(opts.max_predictions_per_seq)
}

/// Chooses and replaces the masked-LM positions of one sequence (see the module comment).
pub fn create_masked_lm_predictions(
    ids: &[u32],
    vocab: &MaskingVocab,
    opts: &PretrainingOptions,
    rng: &mut Rng,
) -> Masked {
    // Each candidate is a run of positions masked together: one token, or a word with its ## pieces.
    let mut candidates: Vec<Vec<usize>> = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        if vocab.is_special(id) {
            continue;
        }
        let joins = opts.whole_word_masking
            && vocab.is_subword(id)
            && candidates
                .last()
                .is_some_and(|c| c.last() == Some(&(i.wrapping_sub(1))));
        match candidates.last_mut() {
            Some(last) if joins => last.push(i),
            _ => candidates.push(vec![i]),
        }
    }
    rng.shuffle(&mut candidates);

    let n = num_to_predict(ids.len(), opts);
    let mut out = ids.to_vec();
    let mut chosen: Vec<(usize, u32, MaskKind)> = Vec::with_capacity(n);
    for candidate in &candidates {
        if chosen.len() >= n {
            break;
        }
        // A whole word that would overshoot num_to_predict is skipped, as in the original.
        if chosen.len() + candidate.len() > n {
            continue;
        }
        for &i in candidate {
            let kind = if rng.uniform() < 0.8 {
                out[i] = vocab.mask;
                MaskKind::Masked
            } else if rng.uniform() < 0.5 {
                MaskKind::Kept
            } else {
                out[i] = rng.below(vocab.vocab_size as usize) as u32;
                MaskKind::Random
            };
            chosen.push((i, ids[i], kind));
        }
    }
    chosen.sort_unstable_by_key(|c| c.0);
    Masked {
        ids: out,
        positions: chosen.iter().map(|c| c.0).collect(),
        labels: chosen.iter().map(|c| c.1).collect(),
        kinds: chosen.iter().map(|c| c.2).collect(),
    }
}

/// Draws new masks for an instance (dynamic masking): the original tokens are restored from its labels,
/// then masked afresh. Segments, types and the NSP label stay.
pub fn mask_dynamically(instance: &mut Instance, vocab: &MaskingVocab, opts: &PretrainingOptions, rng: &mut Rng) {
    let original = instance.unmasked_ids();
    let masked = create_masked_lm_predictions(&original, vocab, opts, rng);
    instance.ids = masked.ids;
    instance.masked_positions = masked.positions;
    instance.masked_labels = masked.labels;
    instance.mask_kinds = masked.kinds;
}
