//! Streaming corpus files into the instance stream: files are read in chunks (corpora larger than memory
//! work), every `eval_every`-th document is held out for evaluation, the rest feeds training.

use std::io::Read;
use std::path::PathBuf;

use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::train::data::{Document, DocumentReader, Instance, InstanceStream, LossyUtf8};
use bert_wgpu::{Error, Result};

const CHUNK: usize = 1 << 20;
/// Held-out documents kept in memory at most.
const MAX_EVAL_DOCUMENTS: usize = 2000;

pub struct Corpus {
    files: Vec<PathBuf>,
    tokenizer: BertTokenizer,
    next_file: usize,
    open: Option<(std::fs::File, LossyUtf8)>,
    reader: DocumentReader,
    /// Documents of the current pass so far (training and held out).
    document_index: u64,
    /// 0 disables the held-out split.
    eval_every: u64,
    /// Held-out documents, collected on the first pass.
    pub eval_documents: Vec<Document>,
    collecting_eval: bool,
    done: bool,
}

impl Corpus {
    /// Checks that every file exists and is not empty.
    pub fn new(files: Vec<PathBuf>, tokenizer: &BertTokenizer, eval_every: u64) -> Result<Corpus> {
        if files.is_empty() {
            return Err(Error("no corpus file given (--corpus FILE...)".into()));
        }
        for f in &files {
            let meta = std::fs::metadata(f).map_err(|e| Error(format!("{}: {e}", f.display())))?;
            if !meta.is_file() || meta.len() == 0 {
                return Err(Error(format!("{}: empty or not a file", f.display())));
            }
        }
        Ok(Corpus {
            files,
            tokenizer: tokenizer.clone(),
            next_file: 0,
            open: None,
            reader: DocumentReader::new(tokenizer),
            document_index: 0,
            eval_every,
            eval_documents: Vec::new(),
            collecting_eval: true,
            done: false,
        })
    }

    /// Back to the start of the corpus for the next pass.
    fn rewind(&mut self) {
        self.next_file = 0;
        self.open = None;
        self.reader = DocumentReader::new(&self.tokenizer);
        self.document_index = 0;
        self.collecting_eval = false;
        self.done = false;
    }

    /// Reads one chunk and hands the finished documents on; false once every file is read.
    fn feed(&mut self, stream: &mut InstanceStream) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        if self.open.is_none() {
            let Some(path) = self.files.get(self.next_file) else {
                self.reader.finish()?;
                self.drain(stream)?;
                self.done = true;
                return Ok(false);
            };
            let f = std::fs::File::open(path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
            self.open = Some((f, LossyUtf8::new()));
        }
        let (file, lossy) = self.open.as_mut().unwrap();
        let mut buf = vec![0u8; CHUNK];
        let n = file
            .read(&mut buf)
            .map_err(|e| Error(format!("{}: {e}", self.files[self.next_file].display())))?;
        let text = if n == 0 {
            lossy.finish()
        } else {
            lossy.decode(&buf[..n])
        };
        self.reader.push_text(&text)?;
        if n == 0 {
            if lossy.replacements() > 0 {
                let name = self.files[self.next_file].display();
                eprintln!(
                    "warning: {name}: {} invalid UTF-8 sequences replaced",
                    lossy.replacements()
                );
            }
            // A file ends its last document.
            self.reader.push_text("\n\n")?;
            self.open = None;
            self.next_file += 1;
        }
        self.drain(stream)?;
        Ok(true)
    }

    fn drain(&mut self, stream: &mut InstanceStream) -> Result<()> {
        while let Some(doc) = self.reader.next_document() {
            let held_out = self.eval_every > 0 && self.document_index % self.eval_every == self.eval_every - 1;
            self.document_index += 1;
            if held_out {
                if self.collecting_eval && self.eval_documents.len() < MAX_EVAL_DOCUMENTS {
                    self.eval_documents.push(doc);
                }
            } else {
                stream.push_document(doc)?;
            }
        }
        Ok(())
    }

    /// The next training instance; starts a new pass over the corpus when one ends. None only if the
    /// corpus yields no instance at all.
    pub fn next_instance(&mut self, stream: &mut InstanceStream) -> Result<Option<Instance>> {
        let mut empty_passes = 0;
        loop {
            if let Some(i) = stream.next_instance() {
                return Ok(Some(i));
            }
            if stream.epoch_done() {
                stream.next_epoch()?;
                self.rewind();
                empty_passes += 1;
                if empty_passes > 1 {
                    return Ok(None);
                }
                continue;
            }
            if !self.feed(stream)? {
                stream.finish_epoch()?;
            }
        }
    }
}
