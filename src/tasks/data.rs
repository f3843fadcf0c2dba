//! Fine-tuning datasets: sentence (pair) classification from TSV, CSV or JSON lines, token classification
//! from JSON lines or CoNLL columns, extractive QA from SQuAD JSON. The `parse_*` functions take the
//! contents and a file name (for the format and for error messages); the `read_*` functions read a file
//! first. Errors name the file and the line (QA: the question id), and say what is wrong.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use serde_json::Value;

use super::char_slice;
use crate::{bail, Error, Result};

/// One text (or text pair) with its label, from one row of a dataset file.
#[derive(Debug, Clone, PartialEq)]
pub struct TextExample {
    /// Line of the row in its file, 1-based (a header is line 1).
    pub line: usize,
    /// First text (column `text`, `sentence` or `sentence1`).
    pub text: String,
    /// Second text of a pair (column `text_pair` or `sentence2`), if the file has one.
    pub text_pair: Option<String>,
    /// Label name or value as written (a JSON number in its string form); None without a label column.
    pub label: Option<String>,
}

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

/// One SQuAD question with its context and gold answers.
#[derive(Debug, Clone, PartialEq)]
pub struct QaExample {
    /// The question's `id` (a number in its string form; `#<n>` when missing, n counting from 1).
    pub id: String,
    pub question: String,
    pub context: String,
    /// Gold answers, checked against the context; empty for an unanswerable question.
    pub answers: Vec<Answer>,
}

/// A gold answer of a QA example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    /// Character offset (not byte) of the answer in the context.
    pub start: usize,
}

#[cfg(not(target_arch = "wasm32"))]
fn read(path: &Path) -> Result<(String, String)> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error(format!("{name}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| Error(format!("{name}: not UTF-8 ({e})")))?;
    Ok((text, name))
}

/// Reads a `.tsv`, `.csv` or `.jsonl` file of texts: see [`parse_text_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_text_examples(path: &Path) -> Result<Vec<TextExample>> {
    let (text, name) = read(path)?;
    parse_text_examples(&text, &name)
}

/// Reads a `.jsonl` or CoNLL file of tagged sentences: see [`parse_token_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_token_examples(path: &Path) -> Result<Vec<TokenExample>> {
    let (text, name) = read(path)?;
    parse_token_examples(&text, &name)
}

/// Reads a SQuAD JSON file: see [`parse_qa_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_qa_examples(path: &Path) -> Result<Vec<QaExample>> {
    let (text, name) = read(path)?;
    parse_qa_examples(&text, &name)
}

fn extension(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    base.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Texts by the file name's extension. `.tsv`: a header row, tab-separated fields, no quoting. `.csv`:
/// a header row, RFC 4180 (fields in double quotes may hold commas, `""` and line breaks). Header columns:
/// `text` (or `sentence`, `sentence1`), optional `text_pair` (or `sentence2`) and `label`; others are
/// ignored. `.jsonl`, `.json`, `.ndjson`: one object a line with `text`, optional `text_pair`, `label`
/// (a string or a number). Empty fields, rows with another number of fields than the header and blank
/// lines before the last row are errors.
pub fn parse_text_examples(text: &str, file_name: &str) -> Result<Vec<TextExample>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = match extension(file_name).as_str() {
        "tsv" => (text.lines().enumerate())
            .map(|(i, l)| (i + 1, l.split('\t').map(str::to_string).collect()))
            .collect(),
        "csv" => super::csv::rows(text, file_name)?,
        "jsonl" | "json" | "ndjson" => return json_text_examples(text, file_name),
        other => bail!("{file_name}: unknown format .{other}: expected .tsv, .csv or .jsonl"),
    };
    table_examples(rows, file_name)
}

/// Text examples from header + rows of fields.
fn table_examples(mut rows: Vec<(usize, Vec<String>)>, file: &str) -> Result<Vec<TextExample>> {
    let blank = |fields: &[String]| fields.iter().all(|f| f.trim().is_empty());
    while rows.last().is_some_and(|(_, f)| blank(f)) {
        rows.pop();
    }
    let mut rows = rows.into_iter();
    let Some((_, header)) = rows.next() else {
        bail!("{file}: empty file: expected a header row (text[, text_pair], label)")
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let column = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let Some(text_col) = column(&["text", "sentence", "sentence1"]) else {
        bail!(
            "{file}:1: the header ({}) has no text column (text, sentence or sentence1)",
            header.join(", ")
        )
    };
    let pair_col = column(&["text_pair", "sentence2"]);
    let label_col = column(&["label"]);
    let mut out = Vec::new();
    for (line, fields) in rows {
        if blank(&fields) {
            bail!("{file}:{line}: empty row");
        }
        if fields.len() != header.len() {
            bail!(
                "{file}:{line}: {} fields, but the header has {} ({})",
                fields.len(),
                header.len(),
                header.join(", ")
            );
        }
        let field = |col: usize| -> Result<String> {
            let value = fields[col].trim_end_matches('\r');
            if value.trim().is_empty() {
                bail!("{file}:{line}: empty {} field", header[col]);
            }
            Ok(value.to_string())
        };
        out.push(TextExample {
            line,
            text: field(text_col)?,
            text_pair: pair_col.map(field).transpose()?,
            label: label_col.map(|c| field(c).map(|l| l.trim().to_string())).transpose()?,
        });
    }
    Ok(out)
}

/// The non-blank lines of a JSON-lines text, parsed as objects, with their line numbers.
fn json_lines(text: &str, file: &str) -> Result<Vec<(usize, serde_json::Map<String, Value>)>> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(l) {
            Ok(Value::Object(o)) => out.push((i + 1, o)),
            Ok(_) => bail!("{file}:{}: expected a JSON object on each line", i + 1),
            Err(e) => bail!("{file}:{}: {e}", i + 1),
        }
    }
    Ok(out)
}

fn json_text_examples(text: &str, file: &str) -> Result<Vec<TextExample>> {
    let mut out = Vec::new();
    for (line, o) in json_lines(text, file)? {
        let get = |names: &[&str]| names.iter().find_map(|n| o.get(*n)).filter(|v| !v.is_null());
        let string = |names: &[&str]| -> Result<Option<String>> {
            match get(names) {
                None => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => bail!("{file}:{line}: empty \"{}\"", names[0]),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) if names[0] == "label" => Ok(Some(n.to_string())),
                Some(other) => bail!("{file}:{line}: \"{}\" must be a string, found {other}", names[0]),
            }
        };
        let Some(text) = string(&["text", "sentence", "sentence1"])? else {
            bail!("{file}:{line}: no \"text\" field")
        };
        out.push(TextExample {
            line,
            text,
            text_pair: string(&["text_pair", "sentence2"])?,
            label: string(&["label"])?,
        });
    }
    Ok(out)
}

/// Tagged sentences. `.jsonl`, `.json`, `.ndjson`: one `{"tokens": [...], "tags": [...]}` a line (`ner_tags`
/// is accepted for `tags`; tags must be names, not ids). Anything else: CoNLL columns, the token first
/// and its tag last on each line, a blank line between sentences, `-DOCSTART-` lines skipped; lines of one
/// column have no tag. A tag count that differs from the token count, an empty token and a file where
/// only some sentences have tags are errors.
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
    for (line, o) in json_lines(text, file)? {
        let strings = |key: &str| -> Result<Option<Vec<String>>> {
            let Some(v) = o.get(key).filter(|v| !v.is_null()) else {
                return Ok(None);
            };
            let items = v
                .as_array()
                .ok_or_else(|| Error(format!("{file}:{line}: \"{key}\" must be a list")))?;
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
            bail!("{file}:{line}: no \"tokens\" list")
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
    let mut out = Vec::new();
    let mut sentence: Option<(usize, Vec<String>, Vec<Option<String>>)> = None;
    let mut finish = |s: Option<(usize, Vec<String>, Vec<Option<String>>)>| -> Result<()> {
        if let Some((line, tokens, tags)) = s {
            let tags = match tags.iter().all(Option::is_some) {
                true => Some(tags.into_iter().flatten().collect()),
                false if tags.iter().all(Option::is_none) => None,
                false => bail!("{file}:{line}: some tokens of this sentence have a tag and some do not"),
            };
            out.push(checked(line, tokens, tags, file)?);
        }
        Ok(())
    };
    for (i, l) in text.lines().enumerate() {
        let columns: Vec<&str> = l.split_whitespace().collect();
        if columns.is_empty() || columns[0] == "-DOCSTART-" {
            finish(sentence.take())?;
            continue;
        }
        let s = sentence.get_or_insert_with(|| (i + 1, Vec::new(), Vec::new()));
        s.1.push(columns[0].to_string());
        s.2.push((columns.len() > 1).then(|| columns[columns.len() - 1].to_string()));
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

/// SQuAD JSON: `{"data": [{"paragraphs": [{"context", "qas": [{"id", "question", "answers": [{"text",
/// "answer_start"}]}]}]}]}`. Every answer must stand in its context at `answer_start` (a character
/// offset); the error names the question id and says what the context holds there.
pub fn parse_qa_examples(text: &str, file_name: &str) -> Result<Vec<QaExample>> {
    let file = file_name;
    let root: Value = serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text))
        .map_err(|e| Error(format!("{file}: {e}")))?;
    let Some(articles) = root.get("data").and_then(Value::as_array) else {
        bail!("{file}: not SQuAD JSON: no \"data\" list at the top level")
    };
    let mut out = Vec::new();
    for (a, article) in articles.iter().enumerate() {
        let paragraphs = article.get("paragraphs").and_then(Value::as_array);
        let Some(paragraphs) = paragraphs else {
            bail!("{file}: data[{a}] has no \"paragraphs\" list")
        };
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let where_ = format!("{file}: data[{a}].paragraphs[{p}]");
            let Some(context) = paragraph.get("context").and_then(Value::as_str) else {
                bail!("{where_} has no \"context\" string")
            };
            let Some(qas) = paragraph.get("qas").and_then(Value::as_array) else {
                bail!("{where_} has no \"qas\" list")
            };
            for qa in qas {
                let id = match qa.get("id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => format!("#{}", out.len() + 1),
                };
                out.push(qa_example(qa, id, context, file)?);
            }
        }
    }
    Ok(out)
}

fn qa_example(qa: &Value, id: String, context: &str, file: &str) -> Result<QaExample> {
    let question = match qa.get("question").and_then(Value::as_str) {
        Some(q) if !q.trim().is_empty() => q.to_string(),
        _ => bail!("{file}: question {id}: no \"question\" text"),
    };
    if context.trim().is_empty() {
        bail!("{file}: question {id}: empty context");
    }
    let mut answers = Vec::new();
    let given = qa
        .get("answers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for answer in given {
        let text = answer.get("text").and_then(Value::as_str);
        let start = answer.get("answer_start").and_then(Value::as_u64);
        let (Some(text), Some(start)) = (text, start) else {
            bail!("{file}: question {id}: an answer needs \"text\" and a non-negative \"answer_start\"")
        };
        let start = start as usize;
        let found = char_slice(context, start, start.saturating_add(text.chars().count()));
        if found != text {
            let occurs = context.find(text).map(|b| context[..b].chars().count());
            let hint = match occurs {
                Some(c) => format!("the answer occurs at character {c}"),
                None => "the answer does not occur in the context".to_string(),
            };
            bail!(
                "{file}: question {id}: answer {text:?} is not at answer_start {start} (the context holds \
                 {found:?} there); {hint}"
            );
        }
        answers.push(Answer {
            text: text.to_string(),
            start,
        });
    }
    Ok(QaExample {
        id,
        question,
        context: context.to_string(),
        answers,
    })
}
