//! WordPiece tokenization through the `tokenizers` crate: from a `tokenizer.json`, or from a `vocab.txt`
//! with the pipeline that transformers' `BertTokenizer` builds (`load.rs`), truncation as transformers cuts
//! (`truncate.rs`). Bytes in, no file system.

use serde_json::Value;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::Tokenizer;

pub(crate) mod load;
mod truncate;

use load::{check_post_processor, check_precompiled, from_vocab, Config};
use truncate::truncate;

use crate::error::Context;
use crate::{bail, Error, Result};

/// A BERT tokenizer: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, with its special token ids.
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    cls_id: u32,
    sep_id: u32,
    pad_id: u32,
    unk_id: u32,
    mask_id: Option<u32>,
    /// transformers' `clean_up_tokenization_spaces` (tokenizer_config.json; default false since v5).
    clean_up_spaces: bool,
}

/// One encoded text or text pair, special tokens included. One entry per token in every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    /// 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    pub type_ids: Vec<u32>,
    /// Byte range of the token in its own text (A or B); (0, 0) for special tokens.
    pub offsets: Vec<(usize, usize)>,
    /// Index of the word in its own text; None for special tokens.
    pub word_ids: Vec<Option<u32>>,
    /// True for the tokens the template added (`[CLS]`, `[SEP]`).
    pub special: Vec<bool>,
}

impl From<&tokenizers::Encoding> for Encoding {
    fn from(enc: &tokenizers::Encoding) -> Encoding {
        Encoding {
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().to_vec(),
            offsets: enc.get_offsets().to_vec(),
            word_ids: enc.get_word_ids().to_vec(),
            special: enc.get_special_tokens_mask().iter().map(|&m| m != 0).collect(),
        }
    }
}

impl Encoding {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn select(&self, keep: &[usize]) -> Encoding {
        Encoding {
            ids: keep.iter().map(|&i| self.ids[i]).collect(),
            type_ids: keep.iter().map(|&i| self.type_ids[i]).collect(),
            offsets: keep.iter().map(|&i| self.offsets[i]).collect(),
            word_ids: keep.iter().map(|&i| self.word_ids[i]).collect(),
            special: keep.iter().map(|&i| self.special[i]).collect(),
        }
    }
}

impl BertTokenizer {
    /// Builds the tokenizer of a model directory from the bytes of its files. tokenizer.json wins over
    /// vocab.txt; its own truncation and padding are turned off. As in transformers, a given
    /// tokenizer_config.json sets lower-casing, accent stripping and Chinese-character splitting of a
    /// `BertNormalizer` (defaults: lower-case, accents follow lower-casing, split) and may rename the
    /// special tokens.
    pub fn from_files(
        tokenizer_json: Option<&[u8]>,
        vocab_txt: Option<&[u8]>,
        tokenizer_config_json: Option<&[u8]>,
    ) -> Result<Self> {
        let config = Config::parse(tokenizer_config_json)?;
        let inner = match (tokenizer_json, vocab_txt) {
            (Some(json), _) => {
                // Parsed in two steps: `tokenizers` panics on a syntax error inside `decoder` when it reads
                // the bytes itself, and on a `Precompiled` normalizer it cannot build.
                let json: Value = serde_json::from_slice(json).context("tokenizer.json")?;
                check_precompiled(json.get("normalizer"))?;
                let mut tk: Tokenizer = serde_json::from_value(json).context("tokenizer.json")?;
                check_post_processor(&tk)?;
                tk.with_truncation(None).context("tokenizer.json")?;
                tk.with_padding(None);
                if tokenizer_config_json.is_some() {
                    if let Some(NormalizerWrapper::BertNormalizer(_)) = tk.get_normalizer() {
                        tk.with_normalizer(Some(config.normalizer()))
                            .context("tokenizer.json")?;
                    }
                }
                tk
            }
            (None, Some(vocab)) => from_vocab(vocab, &config)?,
            (None, None) => bail!("model directory has no tokenizer.json or vocab.txt"),
        };
        let file = if tokenizer_json.is_some() {
            "tokenizer.json"
        } else {
            "vocab.txt"
        };
        let id = |token: &str| -> Result<u32> {
            inner
                .token_to_id(token)
                .ok_or_else(|| Error::new(format!("{file}: special token {token} is not in the vocabulary")))
        };
        Ok(BertTokenizer {
            cls_id: id(&config.cls)?,
            sep_id: id(&config.sep)?,
            pad_id: id(&config.pad)?,
            unk_id: id(&config.unk)?,
            mask_id: inner.token_to_id(&config.mask),
            clean_up_spaces: config.clean_up_spaces,
            inner,
        })
    }

    pub fn cls_id(&self) -> u32 {
        self.cls_id
    }

    pub fn sep_id(&self) -> u32 {
        self.sep_id
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// None when the vocabulary has no `[MASK]`: such a tokenizer cannot serve fill-mask.
    pub fn mask_id(&self) -> Option<u32> {
        self.mask_id
    }

    /// Vocabulary size including added tokens: the number of rows the word embeddings need at least.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Encodes a text, or a text pair, with special tokens and without truncation (see [`Self::truncate`]).
    /// A text that yields no tokens (empty, whitespace, control characters) is an error.
    pub fn encode(&self, text: &str, pair: Option<&str>) -> Result<Encoding> {
        if text.trim().is_empty() || pair.is_some_and(|p| p.trim().is_empty()) {
            bail!("empty text");
        }
        let enc = match pair {
            Some(pair) => self.inner.encode((text, pair), true),
            None => self.inner.encode(text, true),
        }
        .context("tokenizer")?;
        let sequences = enc.get_sequence_ids();
        let n_texts = if pair.is_some() { 2 } else { 1 };
        if (0..n_texts).any(|s| !sequences.contains(&Some(s))) {
            bail!("empty text");
        }
        Ok(Encoding::from(&enc))
    }

    /// Cuts an encoding to `max_len` tokens as transformers' `truncation=True` ("longest_first") does:
    /// tokens go from the end of the longer text first, and the special tokens stay, so a truncated
    /// text still ends with `[SEP]`. Returns whether anything was cut. Special tokens are never cut,
    /// even when they alone exceed `max_len`.
    pub fn truncate(&self, enc: Encoding, max_len: usize) -> (Encoding, bool) {
        truncate(enc, max_len)
    }

    /// Turns ids back into text as transformers' `tokenizer.decode` does. Unknown ids are dropped.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        // The WordPiece decoder cannot fail; other decoders of a tokenizer.json could only fail on
        // malformed byte-fallback tokens, which then decode to nothing.
        let text = self.inner.decode(ids, skip_special_tokens).unwrap_or_default();
        if self.clean_up_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        }
    }
}

/// transformers' `clean_up_tokenization`, applied to the whole decoded text.
fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}
