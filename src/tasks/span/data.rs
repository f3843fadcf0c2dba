//! Extractive QA questions from SQuAD JSON.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use serde_json::Value;

use crate::tasks::features::char_slice;
use crate::tasks::files::{json_kind, keys, not_json, snippet};

#[cfg(not(target_arch = "wasm32"))]
use crate::tasks::files::read_text_file;
use crate::{bail, Result};

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

/// Reads a SQuAD JSON file: see [`parse_qa_examples`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_qa_examples(path: &Path) -> Result<Vec<QaExample>> {
    let (text, name) = read_text_file(path)?;
    parse_qa_examples(&text, &name)
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
