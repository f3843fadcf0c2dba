//! Instances from documents as `create_instances_from_document` makes them: a target length per
//! document, segments A and B (B the true continuation or, half of the time, a span of another document),
//! truncated to fit, then masked.

use super::instance::{Document, Instance, PretrainingOptions};
use super::masking::{create_masked_lm_predictions, MaskingVocab};
use std::borrow::Cow;

use crate::rng::Rng;
use crate::{bail, Result};

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

pub(super) fn without_empty(mut document: Document) -> Option<Document> {
    document.retain(|s| !s.is_empty());
    (!document.is_empty()).then_some(document)
}

pub(super) fn check_sentences(sentences: u64) -> Result<()> {
    match sentences {
        0 => bail!("the corpus is empty: no line has a token (one sentence a line, a blank line between documents)"),
        1 => bail!("the corpus has a single sentence: an instance needs two (one sentence a line)"),
        _ => Ok(()),
    }
}

/// dupe_factor passes over the first `count` documents of `pool`, shuffled together.
pub(super) fn shard_instances(
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
