//! Instances into a padded batch with the masked-LM and NSP targets the pretraining step reads.

use super::instance::{Instance, MaskKind};
use crate::model::Batch;
use crate::rng::Rng;
use crate::{bail, Result};

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

impl PretrainBatch {
    /// A batch for benchmarks: random token ids after a `[CLS]`, two segments, `masked` positions per
    /// sequence spread over it, alternating NSP labels. The same bytes for the same arguments.
    pub fn synthetic(vocab: usize, batch: usize, seq: usize, masked: usize) -> PretrainBatch {
        let mut rng = Rng::new(3);
        let mut b = Batch {
            batch,
            seq,
            ids: (0..batch * seq)
                .map(|_| 5 + (rng.next_u64() % (vocab as u64 - 5)) as u32)
                .collect(),
            types: (0..batch * seq).map(|i| ((i % seq) >= seq / 2) as u32).collect(),
            mask: vec![1.0; batch * seq],
            lengths: vec![seq; batch],
        };
        for i in 0..batch {
            b.ids[i * seq] = 2;
        }
        let spacing = ((seq - 1) / masked.max(1)).max(1);
        let mlm_rows: Vec<u32> = (0..batch)
            .flat_map(|i| (0..masked).map(move |r| (i * seq + 1 + r * spacing) as u32))
            .collect();
        PretrainBatch {
            mlm_labels: mlm_rows.iter().map(|&r| b.ids[r as usize]).collect(),
            mlm_rows,
            nsp_labels: (0..batch as u32).map(|i| i % 2).collect(),
            mask_kinds: Vec::new(),
            batch: b,
        }
    }
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
