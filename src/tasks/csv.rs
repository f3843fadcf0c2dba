//! A small RFC 4180 CSV reader: comma-separated fields, double-quoted fields that may hold commas, line
//! breaks and `""` for a quote; `\n` or `\r\n` between records.

use crate::{bail, Result};

/// Records of an RFC 4180 CSV text with the line each starts on.
pub(super) fn rows(text: &str, file: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let (mut rows, mut fields, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut line, mut row_line, mut quoted_since) = (1, 1, None);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted_since.is_some(), c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted_since = None,
            (true, c) => {
                line += usize::from(c == '\n');
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted_since = Some(line),
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                rows.push((row_line, std::mem::take(&mut fields)));
                line += 1;
                row_line = line;
            }
            (false, c) => field.push(c),
        }
    }
    if let Some(start) = quoted_since {
        bail!("{file}:{start}: a quoted field is not closed");
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        rows.push((row_line, fields));
    }
    Ok(rows)
}
