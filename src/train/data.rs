//! Pretraining data as the original BERT's `create_pretraining_data.py` makes it: a corpus of one sentence
//! a line with a blank line between documents, cut into `[CLS] A [SEP] B [SEP]` instances for next sentence
//! prediction, masked for the masked LM (see [`crate::train::masking`]), and batched.
//!
//! Text comes in chunks ([`DocumentReader`]) and instances go out from bounded shards ([`InstanceStream`]),
//! so a corpus larger than memory streams through. Bytes in, no file system.
//!
//! Where this differs from the original on purpose:
//! - The original reads the whole corpus, shuffles documents and instances over all of it. Here instances
//!   are made and shuffled per shard (a run of consecutive documents, bounded in documents and tokens), and
//!   the random-next segment B comes from another document of the same shard. A corpus that fits in one
//!   shard (4 M tokens by default) is treated as a whole, as in the original.
//! - A corpus (or shard) of a single document keeps the original's behaviour: after 10 draws that all
//!   return the same document, the "random" B is a span of that same document from a random sentence on
//!   (labelled random next). A shard of one document draws B from the last document of the shard before
//!   it, when there is one. A corpus with fewer than two sentences is an error.
//! - Lines are tokenised with the tokenizer's special tokens active: a literal `[MASK]` in the corpus is the
//!   mask token (the original's FullTokenizer would split it into `[`, `mask`, `]`).
//! - The random generator is SplitMix64 ([`Rng`]), not Python's Mersenne Twister: the algorithm is the
//!   original's, draw for draw, but the numbers differ.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::Context;
use crate::model::Batch;
use crate::rng::Rng;
use crate::tokenizer::BertTokenizer;
use crate::train::masking::{create_masked_lm_predictions, MaskKind, MaskingVocab};
use crate::{bail, Result};

/// One document: its sentences, each the token ids of one line without special tokens.
pub type Document = Vec<Vec<u32>>;

/// The knobs of `create_pretraining_data.py`, with its defaults (dupe_factor 1: each epoch of an
/// [`InstanceStream`] makes new instances and masks anyway).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PretrainingOptions {
    /// `[CLS] A [SEP] B [SEP]` is at most this long.
    pub max_seq_length: usize,
    pub max_predictions_per_seq: usize,
    pub masked_lm_prob: f64,
    /// Probability that a document's instances target a random length in [2, max_seq_length - 3].
    pub short_seq_prob: f64,
    /// Mask a word and its `##` pieces together.
    pub whole_word_masking: bool,
    /// Passes over the data, each with new segments and masks.
    pub dupe_factor: usize,
}

impl Default for PretrainingOptions {
    fn default() -> Self {
        PretrainingOptions {
            max_seq_length: 128,
            max_predictions_per_seq: 20,
            masked_lm_prob: 0.15,
            short_seq_prob: 0.1,
            whole_word_masking: false,
            dupe_factor: 1,
        }
    }
}

impl PretrainingOptions {
    pub fn validate(&self) -> Result<()> {
        if self.max_seq_length < 5 {
            bail!(
                "max_seq_length must be at least 5 ([CLS] A [SEP] B [SEP]), found {}",
                self.max_seq_length
            );
        }
        if self.max_predictions_per_seq == 0 {
            bail!("max_predictions_per_seq must be at least 1");
        }
        if !(self.masked_lm_prob > 0.0 && self.masked_lm_prob <= 1.0) {
            bail!("masked_lm_prob must be in (0, 1], found {}", self.masked_lm_prob);
        }
        if !(0.0..=1.0).contains(&self.short_seq_prob) {
            bail!("short_seq_prob must be in [0, 1], found {}", self.short_seq_prob);
        }
        if self.dupe_factor == 0 {
            bail!("dupe_factor must be at least 1");
        }
        Ok(())
    }
}

/// One pretraining example: `[CLS] A [SEP] B [SEP]` after masking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Input ids, masked.
    pub ids: Vec<u32>,
    /// 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    pub type_ids: Vec<u32>,
    /// B is a span of another document (NSP label 1), not the continuation of A (label 0).
    pub is_random_next: bool,
    /// Ascending positions of the masked-LM predictions, with their original tokens and what was done.
    pub masked_positions: Vec<usize>,
    pub masked_labels: Vec<u32>,
    pub mask_kinds: Vec<MaskKind>,
}

impl Instance {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids before masking.
    pub fn unmasked_ids(&self) -> Vec<u32> {
        let mut ids = self.ids.clone();
        for (&p, &label) in self.masked_positions.iter().zip(&self.masked_labels) {
            ids[p] = label;
        }
        ids
    }
}

/// The instances of one document (`create_instances_from_document`); B's random document is drawn from
/// all of `documents`. Empty sentences and documents are best removed first (an instance whose A or B
/// would be empty is skipped).
pub fn create_instances(
    documents: &[Document],
    doc_index: usize,
    vocab: &MaskingVocab,
    opts: &PretrainingOptions,
    rng: &mut Rng,
) -> Vec<Instance> {
    let Some(document) = documents.get(doc_index) else {
        return Vec::new();
    };
    // Room for [CLS], [SEP], [SEP].
    let max_num_tokens = opts.max_seq_length.saturating_sub(3).max(2);
    // Mostly fill the sequence; sometimes (short_seq_prob) aim shorter, to match fine-tuning inputs. As in
    // the original, the target is drawn once per document and is only a target: chunks overshoot it.
    let mut target = max_num_tokens;
    if rng.uniform() < opts.short_seq_prob {
        target = rng.range_inclusive(2, max_num_tokens);
    }
    let mut instances = Vec::new();
    let mut chunk: Vec<&[u32]> = Vec::new();
    let mut chunk_len = 0;
    let mut i = 0;
    while i < document.len() {
        chunk.push(&document[i]);
        chunk_len += document[i].len();
        if i == document.len() - 1 || chunk_len >= target {
            // A is the first a_end sentences of the chunk.
            let a_end = if chunk.len() >= 2 {
                rng.range_inclusive(1, chunk.len() - 1)
            } else {
                1
            };
            let mut a = chunk[..a_end].concat();
            let mut b = Vec::new();
            let is_random_next = chunk.len() == 1 || rng.uniform() < 0.5;
            if is_random_next {
                let target_b = target.saturating_sub(a.len());
                // Rarely more than one draw, except in a corpus of one document.
                let mut r = doc_index;
                for _ in 0..10 {
                    r = rng.below(documents.len());
                    if r != doc_index {
                        break;
                    }
                }
                let random_document = &documents[r];
                if !random_document.is_empty() {
                    let start = rng.below(random_document.len());
                    for sentence in &random_document[start..] {
                        b.extend_from_slice(sentence);
                        if b.len() >= target_b {
                            break;
                        }
                    }
                }
                // The sentences of the chunk after A were not used: put them back.
                i -= chunk.len() - a_end;
            } else {
                b = chunk[a_end..].concat();
            }
            truncate_seq_pair(&mut a, &mut b, max_num_tokens, rng);
            if !a.is_empty() && !b.is_empty() {
                instances.push(assemble(&a, &b, is_random_next, vocab, opts, rng));
            }
            chunk.clear();
            chunk_len = 0;
        }
        i += 1;
    }
    instances
}

/// Cuts one token at a time from the longer of A and B (B on a tie), from its front or its back at
/// random, until they total at most `max_num_tokens`.
pub fn truncate_seq_pair(a: &mut Vec<u32>, b: &mut Vec<u32>, max_num_tokens: usize, rng: &mut Rng) {
    // Kept ranges a[a0..a1], b[b0..b1]: cutting from the front costs nothing.
    let (mut a0, mut a1, mut b0, mut b1) = (0, a.len(), 0, b.len());
    while (a1 - a0) + (b1 - b0) > max_num_tokens {
        let (front, back) = if a1 - a0 > b1 - b0 {
            (&mut a0, &mut a1)
        } else {
            (&mut b0, &mut b1)
        };
        if rng.uniform() < 0.5 {
            *front += 1;
        } else {
            *back -= 1;
        }
    }
    a.truncate(a1);
    a.drain(..a0);
    b.truncate(b1);
    b.drain(..b0);
}

/// `[CLS] A [SEP] B [SEP]` with type ids 0 then 1, masked.
fn assemble(
    a: &[u32],
    b: &[u32],
    is_random_next: bool,
    vocab: &MaskingVocab,
    opts: &PretrainingOptions,
    rng: &mut Rng,
) -> Instance {
    let mut ids = Vec::with_capacity(a.len() + b.len() + 3);
    ids.push(vocab.cls);
    ids.extend_from_slice(a);
    ids.push(vocab.sep);
    ids.extend_from_slice(b);
    ids.push(vocab.sep);
    let mut type_ids = vec![0; a.len() + 2];
    type_ids.resize(ids.len(), 1);
    let masked = create_masked_lm_predictions(&ids, vocab, opts, rng);
    Instance {
        ids: masked.ids,
        type_ids,
        is_random_next,
        masked_positions: masked.positions,
        masked_labels: masked.labels,
        mask_kinds: masked.kinds,
    }
}

/// All instances of a corpus held in memory (`create_training_instances`): dupe_factor passes over the
/// documents, then one shuffle. Empty sentences and documents are dropped first. Errors for a corpus of
/// fewer than two sentences.
pub fn create_training_instances(
    documents: &[Document],
    vocab: &MaskingVocab,
    opts: &PretrainingOptions,
    rng: &mut Rng,
) -> Result<Vec<Instance>> {
    opts.validate()?;
    let clean = documents
        .iter()
        .all(|d| !d.is_empty() && d.iter().all(|s| !s.is_empty()));
    let documents: Cow<[Document]> = if clean {
        Cow::Borrowed(documents)
    } else {
        Cow::Owned(documents.iter().filter_map(|d| without_empty(d.clone())).collect())
    };
    check_sentences(documents.iter().map(|d| d.len() as u64).sum())?;
    Ok(shard_instances(&documents, documents.len(), vocab, opts, rng))
}

fn without_empty(mut document: Document) -> Option<Document> {
    document.retain(|s| !s.is_empty());
    (!document.is_empty()).then_some(document)
}

fn check_sentences(sentences: u64) -> Result<()> {
    match sentences {
        0 => bail!("the corpus is empty: no line has a token (one sentence a line, a blank line between documents)"),
        1 => bail!("the corpus has a single sentence: an instance needs two (one sentence a line)"),
        _ => Ok(()),
    }
}

/// dupe_factor passes over the first `count` documents of `pool`, shuffled together.
fn shard_instances(
    pool: &[Document],
    count: usize,
    vocab: &MaskingVocab,
    opts: &PretrainingOptions,
    rng: &mut Rng,
) -> Vec<Instance> {
    let mut instances = Vec::new();
    for _ in 0..opts.dupe_factor {
        for d in 0..count {
            instances.extend(create_instances(pool, d, vocab, opts, rng));
        }
    }
    rng.shuffle(&mut instances);
    instances
}

/// Masked-LM and NSP targets for a padded batch of instances.
#[derive(Clone, Debug)]
pub struct PretrainBatch {
    pub batch: Batch,
    /// Flat row b·seq + s of every masked position, instance by instance, ascending.
    pub mlm_rows: Vec<u32>,
    /// The original token at each of mlm_rows.
    pub mlm_labels: Vec<u32>,
    /// One per instance, as transformers' next_sentence_label: 0 = B continues A, 1 = B is random.
    pub nsp_labels: Vec<u32>,
    /// What was done at each of mlm_rows.
    pub mask_kinds: Vec<MaskKind>,
}

/// Pads to the longest instance, rounded up to a multiple of 4.
pub fn batch_instances(instances: &[Instance], pad_id: u32) -> PretrainBatch {
    let seq = instances
        .iter()
        .map(Instance::len)
        .max()
        .unwrap_or(1)
        .next_multiple_of(4);
    fill_batch(instances, pad_id, seq)
}

/// Pads to a fixed `seq` (a multiple of 4, at least the longest instance), so that every batch has the
/// shape the training buffers were allocated for.
pub fn batch_instances_padded(instances: &[Instance], pad_id: u32, seq: usize) -> Result<PretrainBatch> {
    let longest = instances.iter().map(Instance::len).max().unwrap_or(0);
    if !seq.is_multiple_of(4) || seq < longest || seq == 0 {
        bail!("batch sequence length {seq} must be a positive multiple of 4 and at least the longest instance ({longest})");
    }
    Ok(fill_batch(instances, pad_id, seq))
}

fn fill_batch(instances: &[Instance], pad_id: u32, seq: usize) -> PretrainBatch {
    let sequences = instances.iter().map(|i| (&i.ids[..], &i.type_ids[..]));
    let mut out = PretrainBatch {
        batch: Batch::from_sequences(sequences, pad_id, seq, instances.len()),
        mlm_rows: Vec::new(),
        mlm_labels: Vec::new(),
        nsp_labels: instances.iter().map(|i| i.is_random_next as u32).collect(),
        mask_kinds: Vec::new(),
    };
    for (b, inst) in instances.iter().enumerate() {
        out.mlm_rows
            .extend(inst.masked_positions.iter().map(|&p| (b * seq + p) as u32));
        out.mlm_labels.extend_from_slice(&inst.masked_labels);
        out.mask_kinds.extend_from_slice(&inst.mask_kinds);
    }
    out
}

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

/// How an [`InstanceStream`] cuts the corpus into shards and makes their instances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamOptions {
    pub pretraining: PretrainingOptions,
    /// The original's default random_seed.
    pub seed: u64,
    /// A shard closes once it holds this many documents...
    pub shard_documents: usize,
    /// ...or this many tokens. Memory is about two shards of ids and their instances.
    pub shard_tokens: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            pretraining: PretrainingOptions::default(),
            seed: 12345,
            shard_documents: 100_000,
            shard_tokens: 4_000_000,
        }
    }
}

/// Where an [`InstanceStream`] stands: the next instance it will hand out is instance `instance` of shard
/// `shard` of epoch `epoch`. Saved beside a checkpoint, it resumes the stream exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub options: StreamOptions,
    pub epoch: u64,
    pub shard: u64,
    pub instance: u64,
    /// Documents of the epoch before that shard: checked on resume, to catch a corpus that changed.
    pub shard_first_document: u64,
    /// A hash of the shard's token ids, checked on resume; None when the shard was not complete yet.
    pub shard_fingerprint: Option<u64>,
}

/// The instances of one closed shard not yet handed out.
struct ReadyShard {
    index: u64,
    first_document: u64,
    fingerprint: u64,
    instances: VecDeque<Instance>,
    taken: u64,
}

/// Instances from documents as they are read, in bounded memory, reproducibly.
///
/// Documents are pushed in corpus order ([`Self::push_document`]); every `shard_documents` documents or
/// `shard_tokens` tokens close a shard, whose instances (dupe_factor passes, random-next B from the same
/// shard) are shuffled and handed out by [`Self::next_instance`]. [`Self::finish_epoch`] closes the last
/// shard, [`Self::next_epoch`] starts the next pass over the corpus with new segments and masks.
///
/// The instances of a shard are a pure function of (seed, epoch, shard index) and the shard's documents,
/// and shard boundaries depend only on the corpus. So [`Self::state`] is just a position, and
/// [`Self::resume`] replays it: push the same corpus (same tokenizer, same [`DocumentReader`] settings)
/// from the start of the epoch; shards before the saved one are read and counted but no instance is
/// made for them, and the saved shard drops the instances already handed out.
pub struct InstanceStream {
    vocab: MaskingVocab,
    options: StreamOptions,
    epoch: u64,
    pending: Vec<Document>,
    pending_tokens: usize,
    pending_first_document: u64,
    /// Counts over this epoch.
    documents: u64,
    sentences: u64,
    shards: u64,
    /// The last document of the previous shard: random-next B for a shard of one document.
    previous_last: Option<Document>,
    ready: VecDeque<ReadyShard>,
    /// A saved position not reached yet.
    resume: Option<StreamState>,
    finished: bool,
}

impl InstanceStream {
    /// A stream at the start of epoch 0.
    pub fn new(vocab: MaskingVocab, options: StreamOptions) -> Result<InstanceStream> {
        options.pretraining.validate()?;
        if options.shard_documents == 0 || options.shard_tokens == 0 {
            bail!("shard_documents and shard_tokens must be at least 1");
        }
        Ok(InstanceStream {
            vocab,
            options,
            epoch: 0,
            pending: Vec::new(),
            pending_tokens: 0,
            pending_first_document: 0,
            documents: 0,
            sentences: 0,
            shards: 0,
            previous_last: None,
            ready: VecDeque::new(),
            resume: None,
            finished: false,
        })
    }

    /// A stream that continues from a saved [`StreamState`] (its options included): push the corpus
    /// from the start of the state's epoch.
    pub fn resume(vocab: MaskingVocab, state: StreamState) -> Result<InstanceStream> {
        let mut stream = InstanceStream::new(vocab, state.options.clone())?;
        stream.epoch = state.epoch;
        stream.resume = Some(state);
        Ok(stream)
    }

    pub fn options(&self) -> &StreamOptions {
        &self.options
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The position of the next instance [`Self::next_instance`] will give (after the ones already given).
    pub fn state(&self) -> StreamState {
        if let Some(state) = &self.resume {
            return state.clone();
        }
        let (epoch, shard, instance, first, fingerprint) = match self.ready.front() {
            Some(s) => (self.epoch, s.index, s.taken, s.first_document, Some(s.fingerprint)),
            None if self.finished => (self.epoch + 1, 0, 0, 0, None),
            None => (self.epoch, self.shards, 0, self.pending_first_document, None),
        };
        StreamState {
            options: self.options.clone(),
            epoch,
            shard,
            instance,
            shard_first_document: first,
            shard_fingerprint: fingerprint,
        }
    }

    /// Adds the next document of the corpus; empty sentences are dropped, an empty document is ignored.
    pub fn push_document(&mut self, document: Document) -> Result<()> {
        if self.finished {
            bail!(
                "epoch {} is finished: call next_epoch before pushing documents",
                self.epoch
            );
        }
        let Some(document) = without_empty(document) else {
            return Ok(());
        };
        self.documents += 1;
        self.sentences += document.len() as u64;
        self.pending_tokens += document.iter().map(Vec::len).sum::<usize>();
        self.pending.push(document);
        if self.pending.len() >= self.options.shard_documents || self.pending_tokens >= self.options.shard_tokens {
            self.close_shard()?;
        }
        Ok(())
    }

    /// The corpus has ended for this epoch: closes the last shard. Errors for a corpus of fewer than two
    /// sentences, and on resume for a corpus that ended before the saved position.
    pub fn finish_epoch(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        check_sentences(self.sentences)?;
        if !self.pending.is_empty() {
            self.close_shard()?;
        }
        if let Some(state) = self.resume.take() {
            // The position just after the last shard is the end of the epoch; anything later is not there.
            if (state.shard, state.instance, state.shard_first_document) != (self.shards, 0, self.documents) {
                bail!(
                    "resume: the corpus ended at shard {} of epoch {} ({} documents), before the saved position \
                     (shard {}, document {}): it is not the corpus the state was saved with",
                    self.shards,
                    self.epoch,
                    self.documents,
                    state.shard,
                    state.shard_first_document
                );
            }
        }
        self.finished = true;
        Ok(())
    }

    /// Starts the next pass over the corpus, after [`Self::finish_epoch`] and once every instance is out.
    pub fn next_epoch(&mut self) -> Result<()> {
        if !self.finished {
            bail!("epoch {} is not finished: call finish_epoch first", self.epoch);
        }
        if self.ready_len() > 0 {
            bail!(
                "epoch {} still has {} instances to hand out",
                self.epoch,
                self.ready_len()
            );
        }
        self.epoch += 1;
        self.pending_first_document = 0;
        self.documents = 0;
        self.sentences = 0;
        self.shards = 0;
        self.previous_last = None;
        self.finished = false;
        Ok(())
    }

    /// Instances available now without pushing more documents.
    pub fn ready_len(&self) -> usize {
        self.ready.iter().map(|s| s.instances.len()).sum()
    }

    /// Every instance of the epoch has been handed out.
    pub fn epoch_done(&self) -> bool {
        self.finished && self.ready.is_empty()
    }

    pub fn next_instance(&mut self) -> Option<Instance> {
        let front = self.ready.front_mut()?;
        let instance = front.instances.pop_front();
        front.taken += 1;
        if front.instances.is_empty() {
            self.ready.pop_front();
        }
        instance
    }

    fn close_shard(&mut self) -> Result<()> {
        let documents = std::mem::take(&mut self.pending);
        let (index, first_document) = (self.shards, self.pending_first_document);
        self.shards += 1;
        self.pending_first_document = self.documents;
        self.pending_tokens = 0;
        let previous = std::mem::replace(&mut self.previous_last, documents.last().cloned());
        let fingerprint = fingerprint(&documents);
        let mut skip = 0;
        if let Some(state) = &self.resume {
            if index < state.shard {
                return Ok(());
            }
            let same = state.shard_fingerprint.is_none_or(|f| f == fingerprint);
            if first_document != state.shard_first_document || !same {
                bail!(
                    "resume: shard {index} of epoch {} (from document {first_document}) is not the shard of the \
                     saved state (from document {}): the corpus, the tokenizer or the reader settings changed",
                    self.epoch,
                    state.shard_first_document
                );
            }
            skip = state.instance;
            self.resume = None;
        }
        let mut rng = Rng::new(shard_seed(self.options.seed, self.epoch, index));
        let opts = &self.options.pretraining;
        let instances = match (documents.len(), previous) {
            (1, Some(previous)) => {
                let pool = [documents.into_iter().next().unwrap_or_default(), previous];
                shard_instances(&pool, 1, &self.vocab, opts, &mut rng)
            }
            (n, _) => shard_instances(&documents, n, &self.vocab, opts, &mut rng),
        };
        if skip > instances.len() as u64 {
            bail!(
                "resume: shard {index} of epoch {} has {} instances, the saved state is at instance {skip}",
                self.epoch,
                instances.len()
            );
        }
        let instances: VecDeque<Instance> = instances.into_iter().skip(skip as usize).collect();
        if !instances.is_empty() {
            self.ready.push_back(ReadyShard {
                index,
                first_document,
                fingerprint,
                instances,
                taken: skip,
            });
        }
        Ok(())
    }
}

/// The seed of one shard's generator: SplitMix64 steps over (seed, epoch, shard).
fn shard_seed(seed: u64, epoch: u64, shard: u64) -> u64 {
    let h = Rng::new(seed).next_u64();
    let h = Rng::new(h ^ epoch).next_u64();
    Rng::new(h ^ shard).next_u64()
}

/// FNV-1a over the token ids, with sentence and document ends marked.
fn fingerprint(documents: &[Document]) -> u64 {
    let step = |h: u64, x: u64| (h ^ x).wrapping_mul(0x0000_0100_0000_01B3);
    let mut h = 0xCBF2_9CE4_8422_2325;
    for document in documents {
        for sentence in document {
            for &t in sentence {
                h = step(h, t as u64);
            }
            h = step(h, 1 << 32);
        }
        h = step(h, 2 << 32);
    }
    h
}
