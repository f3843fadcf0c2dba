//! What the dataset readers of the heads share: a file as UTF-8 text (errors name the line of bytes that
//! are not text), the format by extension, JSON lines, and the snippets that messages show. Each head reads
//! its own rows (`data.rs` in [`super::sequence`], [`super::token`], [`super::span`]): the `parse_*`
//! functions take the contents and a file name (for the format and for error messages), the `read_*`
//! functions read a file first. Errors name the file and the line (QA: the question id).

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use serde_json::Value;

#[cfg(not(target_arch = "wasm32"))]
use crate::error::Context;
use crate::{bail, Error, Result};

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

pub(super) fn extension(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    base.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The first characters of a line, for messages that show what a file holds.
pub(super) fn snippet(line: &str) -> String {
    let (start, cut) = crate::error::cut_for_message(line.trim(), 40);
    format!("{start:?}{}", if cut { "..." } else { "" })
}

/// A serde_json error's message without its " at line L column C" (the caller names the place).
pub(super) fn json_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

/// What is wrong with a line that does not parse as JSON: the parser's message and column when the text
/// starts as JSON does, else what the line holds.
pub(super) fn not_json(e: &serde_json::Error, line: &str, starts_as_json: bool) -> String {
    match starts_as_json {
        true => format!("invalid JSON at column {}: {}", e.column(), json_message(e)),
        false => format!("not JSON: found {}", snippet(line)),
    }
}

/// Whether a JSON value is SQuAD JSON: an object with a `data` list.
pub(super) fn is_squad(value: &Value) -> bool {
    value.get("data").is_some_and(Value::is_array)
}

/// The non-blank lines of a JSON-lines text, parsed as objects, with their line numbers. `expected`
/// shows one line of the format, for messages about a file of another format: a JSON array or one JSON
/// document over several lines, SQuAD JSON, CSV or other text.
pub(super) fn json_lines(
    text: &str,
    file: &str,
    expected: &str,
) -> Result<Vec<(usize, serde_json::Map<String, Value>)>> {
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
pub(super) fn json_kind(value: &Value) -> &'static str {
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
pub(super) fn keys(o: &serde_json::Map<String, Value>) -> String {
    match o.is_empty() {
        true => "none".to_string(),
        false => o.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
    }
}
