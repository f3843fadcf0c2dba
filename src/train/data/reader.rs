//! Corpus text, pushed in chunks, into documents of token ids; bytes into UTF-8 with replacements.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::instance::Document;
use crate::error::Context;
use crate::tokenizer::BertTokenizer;
use crate::Result;

/// Documents over the first `max_document_tokens` tokens are cut into consecutive pieces there, so that
/// a corpus without blank lines still streams in bounded memory.
pub const DEFAULT_MAX_DOCUMENT_TOKENS: usize = 1 << 20;

/// Turns corpus text, pushed in chunks of any size, into documents: one sentence a line (trimmed), a blank
/// line ends a document, a line with no token (after tokenisation) is skipped. The same text gives the same
/// documents however it is chunked.
pub struct DocumentReader {
    tokenizer: tokenizers::Tokenizer,
    /// The unfinished last line of the text pushed so far.
    line: String,
    document: Document,
    document_tokens: usize,
    max_document_tokens: usize,
    ready: VecDeque<Document>,
    stats: ReaderStats,
}

/// Counts over the text read so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderStats {
    pub lines: u64,
    pub sentences: u64,
    /// Non-blank lines that gave no token.
    pub skipped_lines: u64,
    pub documents: u64,
    pub tokens: u64,
    /// Documents cut at max_document_tokens.
    pub split_documents: u64,
}

impl DocumentReader {
    pub fn new(tokenizer: &BertTokenizer) -> DocumentReader {
        DocumentReader {
            tokenizer: tokenizer.inner().clone(),
            line: String::new(),
            document: Vec::new(),
            document_tokens: 0,
            max_document_tokens: DEFAULT_MAX_DOCUMENT_TOKENS,
            ready: VecDeque::new(),
            stats: ReaderStats::default(),
        }
    }

    /// See [`DEFAULT_MAX_DOCUMENT_TOKENS`].
    pub fn max_document_tokens(mut self, tokens: usize) -> DocumentReader {
        self.max_document_tokens = tokens.max(1);
        self
    }

    pub fn push_text(&mut self, text: &str) -> Result<()> {
        let mut rest = text;
        while let Some(end) = rest.find('\n') {
            let line = if self.line.is_empty() {
                Cow::Borrowed(&rest[..end])
            } else {
                self.line.push_str(&rest[..end]);
                Cow::Owned(std::mem::take(&mut self.line))
            };
            self.read_line(&line)?;
            rest = &rest[end + 1..];
        }
        self.line.push_str(rest);
        Ok(())
    }

    /// Ends the text: the last line and document are complete.
    pub fn finish(&mut self) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.read_line(&line)?;
        }
        self.end_document();
        Ok(())
    }

    /// The next complete document, in corpus order.
    pub fn next_document(&mut self) -> Option<Document> {
        self.ready.pop_front()
    }

    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    fn read_line(&mut self, line: &str) -> Result<()> {
        self.stats.lines += 1;
        let line = line.trim();
        if line.is_empty() {
            self.end_document();
            return Ok(());
        }
        let encoding = self.tokenizer.encode(line, false).context("tokenizer")?;
        let ids = encoding.get_ids();
        if ids.is_empty() {
            self.stats.skipped_lines += 1;
            return Ok(());
        }
        self.stats.sentences += 1;
        self.stats.tokens += ids.len() as u64;
        self.document_tokens += ids.len();
        self.document.push(ids.to_vec());
        if self.document_tokens >= self.max_document_tokens {
            self.stats.split_documents += 1;
            self.end_document();
        }
        Ok(())
    }

    fn end_document(&mut self) {
        if !self.document.is_empty() {
            self.stats.documents += 1;
            self.ready.push_back(std::mem::take(&mut self.document));
        }
        self.document_tokens = 0;
    }
}

/// All documents of a text held in memory.
pub fn read_documents(tokenizer: &BertTokenizer, text: &str) -> Result<Vec<Document>> {
    let mut reader = DocumentReader::new(tokenizer);
    reader.push_text(text)?;
    reader.finish()?;
    Ok(std::iter::from_fn(|| reader.next_document()).collect())
}

/// Decodes bytes pushed in chunks as UTF-8, replacing each invalid sequence by U+FFFD as
/// `String::from_utf8_lossy` does, and counting them. A character split between chunks is kept whole.
#[derive(Clone, Debug, Default)]
pub struct LossyUtf8 {
    pending: Vec<u8>,
    replacements: u64,
}

impl LossyUtf8 {
    pub fn new() -> LossyUtf8 {
        LossyUtf8::default()
    }

    pub fn decode(&mut self, bytes: &[u8]) -> String {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(bytes);
        let mut out = String::with_capacity(data.len());
        let mut rest = &data[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            self.replacements += 1;
                            rest = &after[n..];
                        }
                        // An incomplete character at the end: wait for the next chunk.
                        None => {
                            self.pending = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// Ends the input: an incomplete character left at the end becomes one U+FFFD.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        self.pending.clear();
        self.replacements += 1;
        "\u{FFFD}".to_string()
    }

    /// Invalid sequences replaced so far.
    pub fn replacements(&self) -> u64 {
        self.replacements
    }
}
