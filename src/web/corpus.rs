//! A corpus held in memory (a pasted or bundled text) feeding the instance stream exactly as the CLI's
//! corpus reader does for a file: the same documents in the same order, every `holdout_every`-th held
//! out, a new pass over the documents when one ends. So a browser run and `bert-wgpu pretrain` on the
//! same text, tokenizer, settings and seed train on the same batches.

use crate::tokenizer::BertTokenizer;
use crate::train::data::{Document, DocumentReader, Instance, InstanceStream, StreamOptions};
use crate::train::masking::MaskingVocab;
use crate::{Error, Result};

pub struct TextCorpus {
    /// Training documents, in corpus order.
    pub documents: Vec<Document>,
    /// Held-out documents (none when `holdout_every` is 0).
    pub held_out: Vec<Document>,
    pub sentences: usize,
    pub tokens: usize,
}

impl TextCorpus {
    /// One sentence a line, a blank line between documents (the original BERT corpus format).
    pub fn new(text: &str, tokenizer: &BertTokenizer, holdout_every: u64) -> Result<TextCorpus> {
        if text.trim().is_empty() {
            return Err(Error("the training text is empty".into()));
        }
        let mut reader = DocumentReader::new(tokenizer);
        reader.push_text(text)?;
        // As the CLI: the end of a file ends its last document.
        reader.push_text("\n\n")?;
        reader.finish()?;
        let mut corpus = TextCorpus {
            documents: Vec::new(),
            held_out: Vec::new(),
            sentences: 0,
            tokens: 0,
        };
        let mut index = 0u64;
        while let Some(doc) = reader.next_document() {
            let held_out = holdout_every > 0 && index % holdout_every == holdout_every - 1;
            index += 1;
            if held_out {
                corpus.held_out.push(doc);
            } else {
                corpus.sentences += doc.len();
                corpus.tokens += doc.iter().map(Vec::len).sum::<usize>();
                corpus.documents.push(doc);
            }
        }
        if corpus.sentences < 2 {
            return Err(Error(format!(
                "the training text gives {} sentence(s) with tokens; pretraining needs at least two \
                 (one sentence a line, a blank line between documents)",
                corpus.sentences
            )));
        }
        Ok(corpus)
    }

    /// The next training instance, starting a new pass over the documents when one ends.
    pub fn next_instance(&self, stream: &mut InstanceStream) -> Result<Instance> {
        for _ in 0..3 {
            if let Some(i) = stream.next_instance() {
                return Ok(i);
            }
            if stream.epoch_done() {
                stream.next_epoch()?;
            }
            for doc in &self.documents {
                stream.push_document(doc.clone())?;
            }
            stream.finish_epoch()?;
        }
        Err(Error("the training text gives no pretraining instance".into()))
    }

    /// Instances in one pass over the documents (to size a schedule in epochs).
    pub fn instances_per_epoch(&self, vocab: &MaskingVocab, options: &StreamOptions) -> Result<u64> {
        let mut counter = InstanceStream::new(vocab.clone(), options.clone())?;
        for doc in &self.documents {
            counter.push_document(doc.clone())?;
        }
        counter.finish_epoch()?;
        let mut n = 0;
        while counter.next_instance().is_some() {
            n += 1;
        }
        Ok(n)
    }
}
