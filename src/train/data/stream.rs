//! Instances from documents as they are read: bounded shards, reproducible, resumable at any instance.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::instance::{Document, Instance, PretrainingOptions};
use super::instances::{check_sentences, shard_instances, without_empty};
use super::masking::MaskingVocab;
use crate::rng::Rng;
use crate::{bail, Result};

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
/// [`Self::resume`] replays it: push the same corpus (same tokenizer, same [`DocumentReader`](super::DocumentReader) settings)
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
