//! Sentence and sentence-pair classification rows: TSV, CSV and JSON lines.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use serde_json::Value;

use crate::tasks::files::{extension, json_lines, keys};

#[cfg(not(target_arch = "wasm32"))]
use crate::tasks::files::read_text_file;
use crate::{bail, Result};

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

/// Reads a `.tsv`, `.csv` or `.jsonl` file of texts: see [`parse_text_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_text_examples(path: &Path) -> Result<Vec<TextExample>> {
    let (text, name) = read_text_file(path)?;
    parse_text_examples(&text, &name)
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
        "csv" => crate::tasks::csv::rows(text, file_name)?,
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
