//! A padded batch of token ids on the host, as the forward pass takes it.

use crate::tokenizer::Encoding;

/// Token ids of a padded batch, host side. `seq` is a multiple of 4 (the kernels read vec4 rows).
#[derive(Clone, Debug)]
pub struct Batch {
    pub batch: usize,
    pub seq: usize,
    pub ids: Vec<u32>,   // (batch, seq)
    pub types: Vec<u32>, // (batch, seq) token type (segment) ids
    pub mask: Vec<f32>,  // (batch, seq) 1 token, 0 padding
    /// Real (unpadded) length of each sequence.
    pub lengths: Vec<usize>,
}

impl Batch {
    /// Pads encodings to a common length rounded up to a multiple of 4.
    pub fn new(encodings: &[Encoding], pad_id: u32) -> Batch {
        let sequences: Vec<_> = encodings.iter().map(|e| (&e.ids[..], &e.type_ids[..])).collect();
        Batch::padded(&sequences, pad_id)
    }

    /// Sequences of (token ids, type ids), one row each, padded with `pad_id` to the longest rounded up to
    /// a multiple of 4.
    pub fn padded(sequences: &[(&[u32], &[u32])], pad_id: u32) -> Batch {
        let longest = sequences.iter().map(|s| s.0.len()).max().unwrap_or(1);
        Batch::from_sequences(
            sequences.iter().copied(),
            pad_id,
            longest.next_multiple_of(4),
            sequences.len(),
        )
    }

    /// Sequences of (token ids, type ids) padded with `pad_id` to `seq` positions (at least the longest) in
    /// `batch` rows (at least one per sequence; rows past the sequences are all padding).
    pub fn from_sequences<'a>(
        sequences: impl IntoIterator<Item = (&'a [u32], &'a [u32])>,
        pad_id: u32,
        seq: usize,
        batch: usize,
    ) -> Batch {
        let n = batch * seq;
        let mut b = Batch {
            batch,
            seq,
            ids: vec![pad_id; n],
            types: vec![0; n],
            mask: vec![0.0; n],
            lengths: vec![0; batch],
        };
        for (i, (ids, types)) in sequences.into_iter().enumerate() {
            let row = i * seq;
            b.ids[row..row + ids.len()].copy_from_slice(ids);
            b.types[row..row + types.len()].copy_from_slice(types);
            b.mask[row..row + ids.len()].fill(1.0);
            b.lengths[i] = ids.len();
        }
        b
    }

    pub fn tokens(&self) -> usize {
        self.batch * self.seq
    }
}
