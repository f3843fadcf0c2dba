//! The types of pretraining data: a document (sentences of token ids), the options of
//! `create_pretraining_data.py`, and one instance with what masking did to it.

use serde::{Deserialize, Serialize};

use crate::{bail, Result};

/// One document: its sentences, each the token ids of one line without special tokens.
pub type Document = Vec<Vec<u32>>;

/// The knobs of `create_pretraining_data.py`, with its defaults (dupe_factor 1: each epoch of an
/// [`InstanceStream`](super::InstanceStream) makes new instances and masks anyway).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PretrainingOptions {
    /// `[CLS] A [SEP] B [SEP]` is at most this long.
    pub max_seq_length: usize,
    pub max_predictions_per_seq: usize,
    pub masked_lm_prob: f64,
    /// Probability that a document's instances target a random length in [2, max_seq_length - 3].
    pub short_seq_prob: f64,
    /// Mask a word and its `##` pieces together.
    pub whole_word_masking: bool,
    /// Passes over the data, each with new segments and masks.
    pub dupe_factor: usize,
}

impl Default for PretrainingOptions {
    fn default() -> Self {
        PretrainingOptions {
            max_seq_length: 128,
            max_predictions_per_seq: 20,
            masked_lm_prob: 0.15,
            short_seq_prob: 0.1,
            whole_word_masking: false,
            dupe_factor: 1,
        }
    }
}

impl PretrainingOptions {
    pub fn validate(&self) -> Result<()> {
        if self.max_seq_length < 5 {
            bail!(
                "max_seq_length must be at least 5 ([CLS] A [SEP] B [SEP]), found {}",
                self.max_seq_length
            );
        }
        if self.max_predictions_per_seq == 0 {
            bail!("max_predictions_per_seq must be at least 1");
        }
        if !(self.masked_lm_prob > 0.0 && self.masked_lm_prob <= 1.0) {
            bail!("masked_lm_prob must be in (0, 1], found {}", self.masked_lm_prob);
        }
        if !(0.0..=1.0).contains(&self.short_seq_prob) {
            bail!("short_seq_prob must be in [0, 1], found {}", self.short_seq_prob);
        }
        if self.dupe_factor == 0 {
            bail!("dupe_factor must be at least 1");
        }
        Ok(())
    }
}

/// One pretraining example: `[CLS] A [SEP] B [SEP]` after masking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Input ids, masked.
    pub ids: Vec<u32>,
    /// 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    pub type_ids: Vec<u32>,
    /// B is a span of another document (NSP label 1), not the continuation of A (label 0).
    pub is_random_next: bool,
    /// Ascending positions of the masked-LM predictions, with their original tokens and what was done.
    pub masked_positions: Vec<usize>,
    pub masked_labels: Vec<u32>,
    pub mask_kinds: Vec<MaskKind>,
}

impl Instance {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids before masking.
    pub fn unmasked_ids(&self) -> Vec<u32> {
        let mut ids = self.ids.clone();
        for (&p, &label) in self.masked_positions.iter().zip(&self.masked_labels) {
            ids[p] = label;
        }
        ids
    }
}

/// What happened to a chosen position; the label is always the original token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MaskKind {
    /// Replaced by `[MASK]` (80%).
    Masked,
    /// Replaced by a token drawn uniformly from the vocabulary (10%; it may draw the original token).
    Random,
    /// Left as it was (10%).
    Kept,
}
