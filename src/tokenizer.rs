//! WordPiece tokenization through the `tokenizers` crate: from a `tokenizer.json`, or from a `vocab.txt`
//! with the pipeline that transformers' `BertTokenizer` builds. Bytes in, no file system.

use serde_json::{json, Map, Value};
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::{BertNormalizer, NormalizerWrapper};
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

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

/// The settings of tokenizer_config.json that matter here.
struct Config {
    do_lower_case: bool,
    strip_accents: Option<bool>,
    tokenize_chinese_chars: bool,
    clean_up_spaces: bool,
    cls: String,
    sep: String,
    pad: String,
    unk: String,
    mask: String,
}

impl Config {
    fn parse(bytes: Option<&[u8]>) -> Result<Config> {
        let v: Value = match bytes {
            Some(b) => serde_json::from_slice(b).context("tokenizer_config.json")?,
            None => json!({}),
        };
        let flag = |key: &str| -> Result<Option<bool>> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(&Value::Bool(b)) => Ok(Some(b)),
                Some(other) => bail!("tokenizer_config.json: {key} must be true, false or null, found {other}"),
            }
        };
        // A special token is a string or, in older files, an AddedToken object with a "content" field.
        let token = |key: &str, default: &str| -> String {
            match v.get(key) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).unwrap_or(default).to_string(),
                _ => default.to_string(),
            }
        };
        Ok(Config {
            do_lower_case: flag("do_lower_case")?.unwrap_or(true),
            strip_accents: flag("strip_accents")?,
            tokenize_chinese_chars: flag("tokenize_chinese_chars")?.unwrap_or(true),
            clean_up_spaces: flag("clean_up_tokenization_spaces")?.unwrap_or(false),
            cls: token("cls_token", "[CLS]"),
            sep: token("sep_token", "[SEP]"),
            pad: token("pad_token", "[PAD]"),
            unk: token("unk_token", "[UNK]"),
            mask: token("mask_token", "[MASK]"),
        })
    }

    fn normalizer(&self) -> BertNormalizer {
        BertNormalizer::new(
            true,
            self.tokenize_chinese_chars,
            self.strip_accents,
            self.do_lower_case,
        )
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

/// Checks that every `Precompiled` normalizer (alone or in a `Sequence`) builds: `tokenizers` panics
/// instead of returning an error for one that does not.
fn check_precompiled(normalizer: Option<&Value>) -> Result<()> {
    let Some(normalizer) = normalizer else {
        return Ok(());
    };
    match normalizer.get("type").and_then(Value::as_str) {
        Some("Sequence") => {
            let normalizers = normalizer.get("normalizers").and_then(Value::as_array);
            normalizers
                .into_iter()
                .flatten()
                .try_for_each(|n| check_precompiled(Some(n)))
        }
        Some("Precompiled") => serde_json::from_value::<tokenizers::normalizers::Precompiled>(normalizer.clone())
            .map(drop)
            .context("tokenizer.json: normalizer: Precompiled"),
        _ => Ok(()),
    }
}

/// Checks the templates of a `TemplateProcessing` post-processor (alone or in a `Sequence`) as the
/// `tokenizers` builder does and its deserializer does not: a template naming a special token that is not
/// defined, a single-text template with `$B`, a pair template without `$A` and `$B`, or a special token
/// with more ids than tokens would panic or drop a text when encoding.
fn check_post_processor(tk: &Tokenizer) -> Result<()> {
    let Some(processor) = tk.get_post_processor() else {
        return Ok(());
    };
    let processor = serde_json::to_value(processor).context("tokenizer.json: post_processor")?;
    check_templates(&processor)
}

fn check_templates(processor: &Value) -> Result<()> {
    let fault = |msg: String| Err(Error::new(format!("tokenizer.json: post_processor: {msg}")));
    match processor.get("type").and_then(Value::as_str) {
        Some("Sequence") => {
            let processors = processor.get("processors").and_then(Value::as_array);
            processors.into_iter().flatten().try_for_each(check_templates)
        }
        Some("TemplateProcessing") => {
            let defined = processor.get("special_tokens").and_then(Value::as_object);
            for (name, token) in defined.into_iter().flatten() {
                let count = |key: &str| token.get(key).and_then(Value::as_array).map(Vec::len);
                if count("ids") != count("tokens") {
                    return fault(format!(
                        "special token {name:?} has {:?} ids but {:?} tokens",
                        count("ids"),
                        count("tokens")
                    ));
                }
            }
            for (template, texts) in [("single", &["A"][..]), ("pair", &["A", "B"][..])] {
                let pieces = processor.get(template).and_then(Value::as_array);
                let mut seen = Vec::new();
                for piece in pieces.into_iter().flatten() {
                    if let Some(id) = piece.pointer("/SpecialToken/id").and_then(Value::as_str) {
                        if !defined.is_some_and(|d| d.contains_key(id)) {
                            return fault(format!("the {template} template uses special token {id:?}, which special_tokens does not define"));
                        }
                    }
                    if let Some(text) = piece.pointer("/Sequence/id").and_then(Value::as_str) {
                        if !texts.contains(&text) {
                            return fault(format!("the {template} template uses ${text}"));
                        }
                        seen.push(text);
                    }
                }
                if let Some(text) = texts.iter().find(|t| !seen.contains(t)) {
                    return fault(format!("the {template} template has no ${text}"));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// transformers' `BertTokenizer` pipeline over a vocab.txt (one token a line, id = line number).
fn from_vocab(bytes: &[u8], config: &Config) -> Result<Tokenizer> {
    let text = std::str::from_utf8(bytes).context("vocab.txt: not UTF-8")?;
    // As transformers reads it: one token a line, the line break stripped, a repeated token keeps its last id.
    let vocab: Map<String, Value> = text
        .lines()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    for token in [&config.cls, &config.sep, &config.pad, &config.unk] {
        if !vocab.contains_key(token.as_str()) {
            bail!("vocab.txt: special token {token} is not in the vocabulary");
        }
    }
    let model: WordPiece = from_json(json!({
        "type": "WordPiece",
        "unk_token": config.unk,
        "continuing_subword_prefix": "##",
        "max_input_chars_per_word": 100,
        "vocab": vocab,
    }))
    .context("vocab.txt")?;
    let mut tk = Tokenizer::new(model);
    tk.with_normalizer(Some(config.normalizer())).context("vocab.txt")?;
    tk.with_pre_tokenizer(Some(BertPreTokenizer));
    tk.with_decoder(Some(WordPieceDecoder::new("##".to_string(), true)));
    let id = |t: &str| tk.token_to_id(t).unwrap_or_default();
    let (cls, sep) = (&config.cls, &config.sep);
    let cls_piece = |type_id: u32| json!({"SpecialToken": {"id": cls, "type_id": type_id}});
    let sep_piece = |type_id: u32| json!({"SpecialToken": {"id": sep, "type_id": type_id}});
    let seq_piece = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    // Built through serde so that any token text (spaces, colons) is safe.
    let processor: TemplateProcessing = from_json(json!({
        "type": "TemplateProcessing",
        "single": [cls_piece(0), seq_piece("A", 0), sep_piece(0)],
        "pair": [cls_piece(0), seq_piece("A", 0), sep_piece(0), seq_piece("B", 1), sep_piece(1)],
        "special_tokens": {
            cls: {"id": cls, "ids": [id(cls)], "tokens": [cls]},
            sep: {"id": sep, "ids": [id(sep)], "tokens": [sep]},
        },
    }))
    .context("vocab.txt: post-processor")?;
    tk.with_post_processor(Some(processor));
    // As transformers does: special tokens in the text match whole, are never split or lower-cased.
    let mut specials = vec![&config.pad, &config.unk, &config.cls, &config.sep];
    if tk.token_to_id(&config.mask).is_some() {
        specials.push(&config.mask);
    }
    let specials: Vec<AddedToken> = specials
        .into_iter()
        .map(|t| AddedToken::from(t.clone(), true))
        .collect();
    tk.add_special_tokens(specials).context("vocab.txt")?;
    Ok(tk)
}

/// Deserialises through bytes: the `tokenizers` types borrow strings, which `from_value` cannot lend.
fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> serde_json::Result<T> {
    serde_json::from_slice(&serde_json::to_vec(&v)?)
}

/// See [`BertTokenizer::truncate`].
fn truncate(enc: Encoding, max_len: usize) -> (Encoding, bool) {
    let n = enc.len();
    if n <= max_len {
        return (enc, false);
    }
    // Each maximal run of non-special tokens is one text: (run index, position in the run).
    let mut runs: Vec<usize> = Vec::new();
    let mut after_special = true;
    let place: Vec<Option<(usize, usize)>> = (enc.special.iter())
        .map(|&special| {
            if special {
                after_special = true;
                return None;
            }
            if after_special {
                runs.push(0);
                after_special = false;
            }
            let r = runs.len() - 1;
            runs[r] += 1;
            Some((r, runs[r] - 1))
        })
        .collect();
    let budget = max_len.saturating_sub(n - runs.iter().sum::<usize>());
    let keep = keep_lengths(&runs, budget);
    let kept: Vec<usize> = (0..n).filter(|&i| place[i].is_none_or(|(r, p)| p < keep[r])).collect();
    let cut = kept.len() < n;
    (enc.select(&kept), cut)
}

/// How many tokens of each text to keep so that they total at most `budget`.
fn keep_lengths(runs: &[usize], budget: usize) -> Vec<usize> {
    match *runs {
        [a] => vec![a.min(budget)],
        // Exactly tokenizers' LongestFirst: the shorter text is cut only when it exceeds half the budget,
        // and then the longer one keeps the odd token.
        [a, b] => {
            let (short, long) = (a.min(b), a.max(b));
            let (keep_short, keep_long) = if 2 * short > budget {
                (budget / 2, budget / 2 + budget % 2)
            } else {
                (short, (budget - short).min(long))
            };
            if a > b {
                vec![keep_long, keep_short]
            } else {
                vec![keep_short, keep_long]
            }
        }
        // A custom template with more texts: take one token at a time from the longest.
        _ => {
            let mut keep = runs.to_vec();
            while keep.iter().sum::<usize>() > budget {
                let longest = (0..keep.len()).max_by_key(|&i| keep[i]).unwrap_or(0);
                keep[longest] -= 1;
            }
            keep
        }
    }
}
