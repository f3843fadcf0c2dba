//! Fine-tuning datasets: sentence (pair) classification from TSV, CSV or JSON lines, token classification
//! from JSON lines or CoNLL columns, extractive QA from SQuAD JSON. The `parse_*` functions take the
//! contents and a file name (for the format and for error messages); the `read_*` functions read a file
//! first. Errors name the file and the line (QA: the question id), and say what is wrong.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use serde_json::Value;

use super::char_slice;
use crate::error::Context;
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

/// The text of a dataset file and its name for messages. Bytes that are not text are an error naming the
/// line they stand on: a NUL byte (a binary file), UTF-16, or a sequence that is not UTF-8.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_text_file(path: &Path) -> Result<(String, String)> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).context(&name)?;
    let text = decode_text(bytes, &name)?;
    Ok((text, name))
}

/// `bytes` as UTF-8 text (see [`read_text_file`]).
pub fn decode_text(bytes: Vec<u8>, file: &str) -> Result<String> {
    let line_of = |bytes: &[u8], at: usize| 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        bail!("{file}:1: UTF-16 text (it starts with a UTF-16 byte order mark); expected UTF-8: save it as UTF-8");
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        bail!("{file}:{}: a NUL byte: a binary file, not text", line_of(&bytes, at));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Error::new(format!(
            "{file}:{}: not UTF-8 text (byte {at} starts an invalid sequence); expected a UTF-8 text file",
            line_of(e.as_bytes(), at)
        ))
    })
}

/// Reads a `.tsv`, `.csv` or `.jsonl` file of texts: see [`parse_text_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_text_examples(path: &Path) -> Result<Vec<TextExample>> {
    let (text, name) = read_text_file(path)?;
    parse_text_examples(&text, &name)
}

/// Reads a `.jsonl` or CoNLL file of tagged sentences: see [`parse_token_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_token_examples(path: &Path) -> Result<Vec<TokenExample>> {
    let (text, name) = read_text_file(path)?;
    parse_token_examples(&text, &name)
}

/// Reads a SQuAD JSON file: see [`parse_qa_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_qa_examples(path: &Path) -> Result<Vec<QaExample>> {
    let (text, name) = read_text_file(path)?;
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
/// (a string or a number). Empty fields, rows with another number of fields than the header, two header
/// columns for one field and blank lines before the last row are errors; so is a JSON-lines file that
/// holds something else (a JSON array or document, SQuAD JSON, CSV), which the error names.
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
    let column = |names: &[&str]| -> Result<Option<usize>> {
        let found: Vec<usize> = (0..header.len())
            .filter(|&i| names.contains(&header[i].as_str()))
            .collect();
        if found.len() > 1 {
            let named: Vec<&str> = found.iter().map(|&i| header[i].as_str()).collect();
            bail!(
                "{file}:1: the header has {} columns for one field ({}); keep one",
                found.len(),
                named.join(", ")
            );
        }
        Ok(found.first().copied())
    };
    let Some(text_col) = column(&["text", "sentence", "sentence1"])? else {
        bail!(
            "{file}:1: the header ({}) has no text column (text, sentence or sentence1)",
            header.join(", ")
        )
    };
    let pair_col = column(&["text_pair", "sentence2"])?;
    let label_col = column(&["label"])?;
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

/// The first characters of a line, for messages that show what a file holds.
fn snippet(line: &str) -> String {
    let (start, cut) = crate::error::cut_for_message(line.trim(), 40);
    format!("{start:?}{}", if cut { "..." } else { "" })
}

/// A serde_json error's message without its " at line L column C" (the caller names the place).
fn json_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

/// What is wrong with a line that does not parse as JSON: the parser's message and column when the text
/// starts as JSON does, else what the line holds.
fn not_json(e: &serde_json::Error, line: &str, starts_as_json: bool) -> String {
    match starts_as_json {
        true => format!("invalid JSON at column {}: {}", e.column(), json_message(e)),
        false => format!("not JSON: found {}", snippet(line)),
    }
}

/// Whether a JSON value is SQuAD JSON: an object with a `data` list.
fn is_squad(value: &Value) -> bool {
    value.get("data").is_some_and(Value::is_array)
}

/// The non-blank lines of a JSON-lines text, parsed as objects, with their line numbers. `expected`
/// shows one line of the format, for messages about a file of another format: a JSON array or one JSON
/// document over several lines, SQuAD JSON, CSV or other text.
fn json_lines(text: &str, file: &str, expected: &str) -> Result<Vec<(usize, serde_json::Map<String, Value>)>> {
    let wanted = format!("expected JSON lines, one object a line such as {expected}");
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(l) {
            Ok(Value::Object(o)) if o.get("data").is_some_and(Value::is_array) => {
                bail!("{file}:{line}: SQuAD JSON (the format of --task qa); {wanted}")
            }
            Ok(Value::Object(o)) => out.push((line, o)),
            Ok(Value::Array(_)) => bail!("{file}:{line}: a JSON array; {wanted}"),
            Ok(other) => bail!("{file}:{line}: a JSON {}; {wanted}", json_kind(&other)),
            Err(e) => {
                if let Ok(document) = serde_json::from_str::<Value>(text) {
                    let found = match &document {
                        d if is_squad(d) => "SQuAD JSON (the format of --task qa)".to_string(),
                        d => format!("one JSON {} over several lines", json_kind(d)),
                    };
                    bail!("{file}:{line}: {found}; {wanted}");
                }
                let starts_as_json = l.trim_start().starts_with(['{', '[', '"']);
                bail!("{file}:{line}: {}; {wanted}", not_json(&e, l, starts_as_json))
            }
        }
    }
    Ok(out)
}

/// "object", "array", "string", ... for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The keys of a JSON object, for messages.
fn keys(o: &serde_json::Map<String, Value>) -> String {
    match o.is_empty() {
        true => "none".to_string(),
        false => o.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
    }
}

fn json_text_examples(text: &str, file: &str) -> Result<Vec<TextExample>> {
    let mut out = Vec::new();
    for (line, o) in json_lines(text, file, r#"{"text": "...", "label": "..."}"#)? {
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
            bail!(
                "{file}:{line}: no \"text\" field (nor \"sentence\", \"sentence1\"); the object's keys: {}",
                keys(&o)
            )
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

/// Whether a file name is that of a table (`.tsv`, `.csv`) rather than of JSON lines.
fn is_table(file_name: &str) -> bool {
    matches!(extension(file_name).as_str(), "tsv" | "csv")
}

/// Checks that the rows hold what training and evaluation need: a label on every row, and the texts of
/// [`check_text_pairs`]. Errors name the header line of a table without the column, or the first JSON line
/// without the field.
pub fn check_labelled_texts(rows: &[TextExample], file_name: &str, pairs: bool) -> Result<()> {
    let file = file_name;
    if let Some(row) = rows.iter().find(|r| r.label.is_none()) {
        match is_table(file) {
            true => bail!("{file}:1: the header has no label column; training and evaluation need one"),
            false => bail!(
                "{file}:{}: no \"label\" field; training and evaluation need a label on every line",
                row.line
            ),
        }
    }
    check_text_pairs(rows, file, pairs)
}

/// Checks that with `pairs` (a sentence-pair task) every row has a second text, and without, that the
/// rows are all single texts or all pairs. Errors name the header line of a table without the column, or
/// the first JSON line without the field.
pub fn check_text_pairs(rows: &[TextExample], file_name: &str, pairs: bool) -> Result<()> {
    let file = file_name;
    let Some(single) = rows.iter().find(|r| r.text_pair.is_none()) else {
        return Ok(());
    };
    if pairs {
        match is_table(file) {
            true => bail!(
                "{file}:1: the header has no text_pair column (text_pair or sentence2), which the pair-cls task needs"
            ),
            false => bail!(
                "{file}:{}: no \"text_pair\" field (nor \"sentence2\"), which the pair-cls task needs on every line",
                single.line
            ),
        }
    }
    if let Some(pair) = rows.iter().find(|r| r.text_pair.is_some()) {
        bail!(
            "{file}:{}: no \"text_pair\" field, but line {} has one; a file holds single texts or pairs, not both",
            single.line,
            pair.line
        );
    }
    Ok(())
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

/// Checks that some question has an answer: a file without any (no `answers`, or only empty lists) gives
/// training nothing to learn and evaluation nothing to score.
pub fn check_answered(questions: &[QaExample], file_name: &str) -> Result<()> {
    if !questions.is_empty() && questions.iter().all(|q| q.answers.is_empty()) {
        bail!(
            "{file_name}: no question has an answer (\"answers\": [{{\"text\", \"answer_start\"}}]); training and \
             evaluation need answers"
        );
    }
    Ok(())
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
        if line == first_token_line && l.trim_start().starts_with(['{', '[']) {
            if serde_json::from_str::<Value>(l).is_ok() || serde_json::from_str::<Value>(text).is_ok() {
                bail!(
                    "{file}:{line}: JSON, but CoNLL columns (a token and its tag on each line) were expected; \
                     name a JSON-lines file .jsonl"
                );
            }
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

/// SQuAD JSON: `{"data": [{"paragraphs": [{"context", "qas": [{"id", "question", "answers": [{"text",
/// "answer_start"}]}]}]}]}`. Every answer must stand in its context at `answer_start` (a character
/// offset); the error names the question id and says what the context holds there.
pub fn parse_qa_examples(text: &str, file_name: &str) -> Result<Vec<QaExample>> {
    let file = file_name;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let wanted = r#"expected SQuAD JSON, one document {"data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}"#;
    if text.trim().is_empty() {
        bail!("{file}: empty file; {wanted}");
    }
    let root: Value = match serde_json::from_str(text) {
        Ok(root) => root,
        Err(e) => {
            // The parser places an error at the end of the file on the line after the last.
            let line = e.line().clamp(1, text.lines().count().max(1));
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
            if serde_json::from_str::<Value>(first).is_ok() {
                bail!("{file}:{line}: JSON lines (a JSON value on each line); {wanted}");
            }
            let found = text.lines().nth(line - 1).unwrap_or_default();
            let starts_as_json = first.trim_start().starts_with(['{', '[', '"']);
            bail!("{file}:{line}: {}; {wanted}", not_json(&e, found, starts_as_json));
        }
    };
    let Some(articles) = root.get("data").and_then(Value::as_array) else {
        let found = match &root {
            Value::Object(o) => format!("an object with the keys {}", keys(o)),
            other => format!("a JSON {}", json_kind(other)),
        };
        bail!("{file}: not SQuAD JSON: no \"data\" list at the top level, but {found}; {wanted}")
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
    let given = match qa.get("answers") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(answers)) => answers.as_slice(),
        Some(other) => bail!(
            "{file}: question {id}: \"answers\" must be a list of {{\"text\", \"answer_start\"}}, found {}",
            snippet(&other.to_string())
        ),
    };
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
