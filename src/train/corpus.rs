//! A pretraining corpus: files read in chunks (corpora larger than memory work) or a text held in memory (a
//! page's pasted or bundled text), one sentence a line and a blank line between documents, feeding the
//! instance stream. Every `holdout_every`-th document is held out for evaluation and never trained on; a
//! new pass over the documents starts when one ends. The CLI and the browser read through this one type,
//! so the same text, tokenizer, settings and seed give the same batches on both.

use std::io::Read;
use std::path::PathBuf;

use super::data::MaskingVocab;
use super::data::{Document, DocumentReader, Instance, InstanceStream, LossyUtf8, StreamOptions};
use crate::error::Context;
use crate::tokenizer::BertTokenizer;
use crate::{Error, Result};

/// Bytes read from a file at a time.
const CHUNK: usize = 1 << 20;
/// Held-out documents kept in memory at most.
const MAX_HELD_OUT_DOCUMENTS: usize = 2000;

/// Where the text comes from.
pub enum Source {
    File(PathBuf),
    Text(String),
}

/// What one pass over the corpus holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CorpusStats {
    /// Training documents, sentences (lines with tokens) and their tokens.
    pub documents: u64,
    pub sentences: u64,
    pub tokens: u64,
    pub held_out_documents: u64,
    /// Training instances the stream makes from one pass.
    pub instances: u64,
}

pub struct Corpus {
    sources: Vec<Source>,
    tokenizer: BertTokenizer,
    next_source: usize,
    /// The file being read, when the current source is a file (a text is pushed whole at once).
    open: Option<(std::fs::File, LossyUtf8)>,
    reader: DocumentReader,
    /// Documents of the current pass so far (training and held out).
    document_index: u64,
    /// 0 disables the held-out split.
    holdout_every: u64,
    /// Held-out documents, collected on the first pass.
    pub held_out: Vec<Document>,
    collecting_held_out: bool,
    done: bool,
    /// Training documents, sentences and tokens of the current pass so far.
    stats: CorpusStats,
}

impl Corpus {
    /// Checks that every file exists and that no source is empty.
    pub fn new(sources: Vec<Source>, tokenizer: &BertTokenizer, holdout_every: u64) -> Result<Corpus> {
        if sources.is_empty() {
            return Err(Error::new("no corpus given"));
        }
        for s in &sources {
            match s {
                Source::File(f) => {
                    let meta = std::fs::metadata(f).context(f.display())?;
                    if !meta.is_file() || meta.len() == 0 {
                        return Err(Error::new(format!("{}: empty or not a file", f.display())));
                    }
                }
                Source::Text(t) if t.trim().is_empty() => return Err(Error::new("the training text is empty")),
                Source::Text(_) => {}
            }
        }
        Ok(Corpus {
            sources,
            tokenizer: tokenizer.clone(),
            next_source: 0,
            open: None,
            reader: DocumentReader::new(tokenizer),
            document_index: 0,
            holdout_every,
            held_out: Vec::new(),
            collecting_held_out: true,
            done: false,
            stats: CorpusStats::default(),
        })
    }

    /// Files, in order.
    pub fn files(files: Vec<PathBuf>, tokenizer: &BertTokenizer, holdout_every: u64) -> Result<Corpus> {
        Corpus::new(files.into_iter().map(Source::File).collect(), tokenizer, holdout_every)
    }

    /// A text held in memory.
    pub fn text(text: String, tokenizer: &BertTokenizer, holdout_every: u64) -> Result<Corpus> {
        Corpus::new(vec![Source::Text(text)], tokenizer, holdout_every)
    }

    /// Reads one pass into a throw-away stream of `options` and counts it; the held-out documents are
    /// collected on the way. The next instance is then the first of the first pass. Fewer than two
    /// training sentences is the stream's error: no sentence pair can be made.
    pub fn count_pass(&mut self, vocab: &MaskingVocab, options: &StreamOptions) -> Result<CorpusStats> {
        let mut counter = InstanceStream::new(vocab.clone(), options.clone())?;
        let mut instances = 0u64;
        while self.feed(&mut counter)? {
            while counter.next_instance().is_some() {
                instances += 1;
            }
        }
        counter.finish_epoch()?;
        while counter.next_instance().is_some() {
            instances += 1;
        }
        let stats = CorpusStats {
            instances,
            held_out_documents: self.held_out.len() as u64,
            ..self.stats.clone()
        };
        self.rewind();
        Ok(stats)
    }

    /// Back to the start of the corpus for the next pass.
    fn rewind(&mut self) {
        self.next_source = 0;
        self.open = None;
        self.reader = DocumentReader::new(&self.tokenizer);
        self.document_index = 0;
        self.collecting_held_out = false;
        self.done = false;
        self.stats = CorpusStats::default();
    }

    /// Reads one chunk and hands the finished documents on; false once every source is read.
    fn feed(&mut self, stream: &mut InstanceStream) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let Some(source) = self.sources.get(self.next_source) else {
            self.reader.finish()?;
            self.drain(stream)?;
            self.done = true;
            return Ok(false);
        };
        let ended = match source {
            Source::Text(text) => {
                self.reader.push_text(text)?;
                true
            }
            Source::File(path) => {
                let (mut file, mut lossy) = match self.open.take() {
                    Some(open) => open,
                    None => (std::fs::File::open(path).context(path.display())?, LossyUtf8::new()),
                };
                let mut buf = vec![0u8; CHUNK];
                let n = file.read(&mut buf).context(path.display())?;
                let text = if n == 0 {
                    lossy.finish()
                } else {
                    lossy.decode(&buf[..n])
                };
                self.reader.push_text(&text)?;
                if n == 0 && lossy.replacements() > 0 {
                    eprintln!(
                        "warning: {}: {} invalid UTF-8 sequences replaced",
                        path.display(),
                        lossy.replacements()
                    );
                }
                if n != 0 {
                    self.open = Some((file, lossy));
                }
                n == 0
            }
        };
        if ended {
            // The end of a source ends its last document.
            self.reader.push_text("\n\n")?;
            self.next_source += 1;
        }
        self.drain(stream)?;
        Ok(true)
    }

    fn drain(&mut self, stream: &mut InstanceStream) -> Result<()> {
        while let Some(doc) = self.reader.next_document() {
            let every = self.holdout_every;
            let held_out = every > 0 && self.document_index % every == every - 1;
            self.document_index += 1;
            if held_out {
                if self.collecting_held_out && self.held_out.len() < MAX_HELD_OUT_DOCUMENTS {
                    self.held_out.push(doc);
                }
            } else {
                self.stats.documents += 1;
                self.stats.sentences += doc.len() as u64;
                self.stats.tokens += doc.iter().map(|s| s.len() as u64).sum::<u64>();
                stream.push_document(doc)?;
            }
        }
        Ok(())
    }

    /// The next training instance; starts a new pass over the corpus when one ends. An error if the corpus
    /// yields no instance at all.
    pub fn next_instance(&mut self, stream: &mut InstanceStream) -> Result<Instance> {
        let mut empty_passes = 0;
        loop {
            if let Some(i) = stream.next_instance() {
                return Ok(i);
            }
            if stream.epoch_done() {
                stream.next_epoch()?;
                self.rewind();
                empty_passes += 1;
                if empty_passes > 1 {
                    return Err(Error::new("the corpus gives no training instance"));
                }
                continue;
            }
            if !self.feed(stream)? {
                stream.finish_epoch()?;
            }
        }
    }
}
