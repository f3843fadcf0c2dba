//! Token classification sentences: JSON lines of tokens and tags, or CoNLL columns.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use serde_json::Value;

use crate::tasks::files::{extension, json_lines, keys};

#[cfg(not(target_arch = "wasm32"))]
use crate::tasks::files::read_text_file;
use crate::{bail, Error, Result};

/// One pre-split sentence with its tags (BIO names), one per word.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenExample {
    /// Line of the sentence in its file, 1-based (CoNLL: its first token line).
    pub line: usize,
    /// The words of the sentence.
    pub tokens: Vec<String>,
    /// One tag per word; None when the file has no tags.
    pub tags: Option<Vec<String>>,
}

impl TokenExample {
    /// The line of word `word` in `file_name`: CoNLL files (the `.jsonl`, `.json` and `.ndjson` names
    /// excepted, as in [`parse_token_examples`]) hold one word a line from the sentence's first line on;
    /// JSON lines hold the whole sentence on its line.
    pub fn word_line(&self, word: usize, file_name: &str) -> usize {
        match extension(file_name).as_str() {
            "jsonl" | "json" | "ndjson" => self.line,
            _ => self.line + word,
        }
    }
}

/// Reads a `.jsonl` or CoNLL file of tagged sentences: see [`parse_token_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_token_examples(path: &Path) -> Result<Vec<TokenExample>> {
    let (text, name) = read_text_file(path)?;
    parse_token_examples(&text, &name)
}

/// Checks that the sentences have tags, as training and evaluation need ([`parse_token_examples`] makes
/// sure that all or none have them).
pub fn check_tagged(sentences: &[TokenExample], file_name: &str) -> Result<()> {
    let file = file_name;
    let Some(untagged) = sentences.iter().find(|s| s.tags.is_none()) else {
        return Ok(());
    };
    match extension(file).as_str() {
        "jsonl" | "json" | "ndjson" => bail!(
            "{file}:{}: no \"tags\" list (nor \"ner_tags\"); training and evaluation need tags",
            untagged.line
        ),
        _ => bail!(
            "{file}:{}: a token without a tag (CoNLL lines hold the token first and its tag last); training and \
             evaluation need tags",
            untagged.line
        ),
    }
}

/// Tagged sentences. `.jsonl`, `.json`, `.ndjson`: one `{"tokens": [...], "tags": [...]}` a line (`ner_tags`
/// is accepted for `tags`; tags must be names, not ids). Anything else: CoNLL columns, the token first
/// and its tag last on each line, a blank line between sentences, `-DOCSTART-` lines skipped; lines of one
/// column have no tag. A tag count that differs from the token count, an empty token, a file where only
/// some sentences have tags and a CoNLL line with another number of columns than its sentence's first
/// line are errors naming the line (the line of the word for CoNLL); so is JSON in a CoNLL file.
pub fn parse_token_examples(text: &str, file_name: &str) -> Result<Vec<TokenExample>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let out = match extension(file_name).as_str() {
        "jsonl" | "json" | "ndjson" => json_token_examples(text, file_name)?,
        _ => conll_examples(text, file_name)?,
    };
    if let Some(untagged) = out.iter().find(|e| e.tags.is_none()) {
        if out.iter().any(|e| e.tags.is_some()) {
            bail!(
                "{file_name}:{}: a sentence without tags in a file with tags",
                untagged.line
            );
        }
    }
    Ok(out)
}

fn json_token_examples(text: &str, file: &str) -> Result<Vec<TokenExample>> {
    let mut out = Vec::new();
    for (line, o) in json_lines(text, file, r#"{"tokens": ["..."], "tags": ["..."]}"#)? {
        let strings = |key: &str| -> Result<Option<Vec<String>>> {
            let Some(v) = o.get(key).filter(|v| !v.is_null()) else {
                return Ok(None);
            };
            let items = v
                .as_array()
                .ok_or_else(|| Error::new(format!("{file}:{line}: \"{key}\" must be a list")))?;
            let strings = items
                .iter()
                .map(|t| t.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>();
            match strings {
                Some(s) => Ok(Some(s)),
                None => bail!("{file}:{line}: \"{key}\" must be a list of strings (tag names, not ids)"),
            }
        };
        let Some(tokens) = strings("tokens")? else {
            bail!("{file}:{line}: no \"tokens\" list; the object's keys: {}", keys(&o))
        };
        let tags = match strings("tags")? {
            Some(t) => Some(t),
            None => strings("ner_tags")?,
        };
        out.push(checked(line, tokens, tags, file)?);
    }
    Ok(out)
}

fn conll_examples(text: &str, file: &str) -> Result<Vec<TokenExample>> {
    /// A sentence being read: its first line, its words, their tags, and the column count of its lines.
    struct Sentence {
        line: usize,
        tokens: Vec<String>,
        tags: Vec<String>,
        columns: usize,
    }
    let mut out = Vec::new();
    let mut finish = |s: Option<Sentence>| -> Result<()> {
        if let Some(s) = s {
            let tags = (s.columns > 1).then_some(s.tags);
            out.push(checked(s.line, s.tokens, tags, file)?);
        }
        Ok(())
    };
    let mut sentence: Option<Sentence> = None;
    let token_line = |(i, l): (usize, &str)| {
        let columns = l.split_whitespace().next();
        columns.is_some_and(|c| c != "-DOCSTART-").then_some(i + 1)
    };
    let first_token_line = text.lines().enumerate().find_map(token_line).unwrap_or(0);
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let columns: Vec<&str> = l.split_whitespace().collect();
        if columns.is_empty() || columns[0] == "-DOCSTART-" {
            finish(sentence.take())?;
            continue;
        }
        if line == first_token_line
            && l.trim_start().starts_with(['{', '['])
            && (serde_json::from_str::<Value>(l).is_ok() || serde_json::from_str::<Value>(text).is_ok())
        {
            bail!(
                "{file}:{line}: JSON, but CoNLL columns (a token and its tag on each line) were expected; \
                     name a JSON-lines file .jsonl"
            );
        }
        let s = sentence.get_or_insert_with(|| Sentence {
            line,
            tokens: Vec::new(),
            tags: Vec::new(),
            columns: columns.len(),
        });
        if columns.len() != s.columns {
            let (first, n) = (s.line, s.columns);
            match (n, columns.len()) {
                (1, _) => bail!("{file}:{line}: a tag, but the sentence's first line ({first}) has none"),
                (_, 1) => bail!("{file}:{line}: no tag, but the sentence's first line ({first}) has one"),
                _ => bail!(
                    "{file}:{line}: {} columns, but the sentence's first line ({first}) has {n}; every line of a \
                     sentence holds the same columns (the token first, its tag last)",
                    columns.len()
                ),
            }
        }
        s.tokens.push(columns[0].to_string());
        s.tags.push(columns[columns.len() - 1].to_string());
    }
    finish(sentence.take())?;
    Ok(out)
}

fn checked(line: usize, tokens: Vec<String>, tags: Option<Vec<String>>, file: &str) -> Result<TokenExample> {
    if tokens.is_empty() {
        bail!("{file}:{line}: no tokens");
    }
    if let Some(i) = tokens.iter().position(|t| t.trim().is_empty()) {
        bail!("{file}:{line}: token {} is empty", i + 1);
    }
    if let Some(tags) = &tags {
        if tags.len() != tokens.len() {
            bail!("{file}:{line}: {} tokens but {} tags", tokens.len(), tags.len());
        }
    }
    Ok(TokenExample { line, tokens, tags })
}
