//! Building a `tokenizers` pipeline: tokenizer_config.json's settings, the checks a tokenizer.json must
//! pass before `tokenizers` would panic on it, and transformers' `BertTokenizer` pipeline from a vocab.txt.

use serde_json::{json, Map, Value};
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::Context;
use crate::{bail, Error, Result};

/// The settings of tokenizer_config.json that matter here.
pub(crate) struct Config {
    pub(crate) do_lower_case: bool,
    pub(crate) strip_accents: Option<bool>,
    pub(crate) tokenize_chinese_chars: bool,
    pub(crate) clean_up_spaces: bool,
    pub(crate) cls: String,
    pub(crate) sep: String,
    pub(crate) pad: String,
    pub(crate) unk: String,
    pub(crate) mask: String,
}

impl Config {
    pub(crate) fn parse(bytes: Option<&[u8]>) -> Result<Config> {
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

    pub(crate) fn normalizer(&self) -> BertNormalizer {
        BertNormalizer::new(
            true,
            self.tokenize_chinese_chars,
            self.strip_accents,
            self.do_lower_case,
        )
    }
}

/// Checks that every `Precompiled` normalizer (alone or in a `Sequence`) builds: `tokenizers` panics
/// instead of returning an error for one that does not.
pub(super) fn check_precompiled(normalizer: Option<&Value>) -> Result<()> {
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
pub(super) fn check_post_processor(tk: &Tokenizer) -> Result<()> {
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
pub(super) fn from_vocab(bytes: &[u8], config: &Config) -> Result<Tokenizer> {
    let text = std::str::from_utf8(bytes).context("vocab.txt: not UTF-8")?;
    // As transformers reads it: one token a line, the line break stripped, a repeated token keeps its last id.
    pipeline(text.lines(), config, "vocab.txt")
}

/// transformers' `BertTokenizer` pipeline over WordPiece `tokens` (id = position; a repeated token keeps its
/// last id) with the normalizer and special tokens of `config`; errors name `what`.
pub(crate) fn pipeline<'a>(tokens: impl Iterator<Item = &'a str>, config: &Config, what: &str) -> Result<Tokenizer> {
    let vocab: Map<String, Value> = tokens.enumerate().map(|(i, t)| (t.to_string(), json!(i))).collect();
    for token in [&config.cls, &config.sep, &config.pad, &config.unk] {
        if !vocab.contains_key(token.as_str()) {
            bail!("{what}: special token {token} is not in the vocabulary");
        }
    }
    let model: WordPiece = from_json(json!({
        "type": "WordPiece",
        "unk_token": config.unk,
        "continuing_subword_prefix": "##",
        "max_input_chars_per_word": 100,
        "vocab": vocab,
    }))
    .context(what)?;
    let mut tk = Tokenizer::new(model);
    tk.with_normalizer(Some(config.normalizer())).context(what)?;
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
    .context(format!("{what}: post-processor"))?;
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
    tk.add_special_tokens(specials).context(what)?;
    Ok(tk)
}

/// Deserialises through bytes: the `tokenizers` types borrow strings, which `from_value` cannot lend.
fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> serde_json::Result<T> {
    serde_json::from_slice(&serde_json::to_vec(&v)?)
}
