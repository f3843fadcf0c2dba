//! The settings of a pretraining run and every decision made from them, shared by `bert-wgpu pretrain` and
//! the browser's `Trainer.pretrain`: the presets and a fresh model's config, the defaults and their checks,
//! the length of the schedule, and the held-out evaluation. The CLI fills a [`Recipe`] from its flags and
//! the browser from a JS object; nothing else differs between them.

use super::data::MaskingVocab;
use super::data::{batch_instances_padded, create_training_instances, Document, PretrainBatch};
use super::data::{PretrainingOptions, StreamOptions};
use super::optimizer::{AdamVariant, OptimizerConfig};
use super::pretrain::{Pretrainer, StepMetrics};
use crate::model::BertConfig;
use crate::rng::Rng;
use crate::tokenizer::BertTokenizer;
use crate::{Error, Result};

/// Google's BERT miniatures (Turc et al.) and BERT-base: (name, layers, hidden); heads of 64, FFN 4x hidden.
pub const PRESETS: [(&str, usize, usize); 5] = [
    ("tiny", 2, 128),
    ("mini", 4, 256),
    ("small", 4, 512),
    ("medium", 8, 512),
    ("base", 12, 768),
];

/// The config of a preset with a vocabulary of `vocab_size`, or None for another name.
pub fn preset(name: &str, vocab_size: usize) -> Option<BertConfig> {
    let &(_, layers, hidden) = PRESETS.iter().find(|p| p.0 == name)?;
    Some(BertConfig::new(vocab_size, hidden, layers, hidden / 64, 4 * hidden))
}

/// "tiny, mini, small, medium, base": what an error message lists.
pub fn preset_names() -> String {
    PRESETS.map(|p| p.0).join(", ")
}

/// A fresh BertForPreTraining config from `config` (a preset or a user's config.json) for `tokenizer`: its
/// vocabulary size and padding id, checked.
pub fn fresh_config(mut config: BertConfig, tokenizer: &BertTokenizer) -> Result<BertConfig> {
    config.vocab_size = tokenizer.vocab_size();
    config.pad_token_id = tokenizer.pad_id() as usize;
    config.architectures = Some(vec!["BertForPreTraining".into()]);
    config.validate()?;
    Ok(config)
}

/// Held-out instances evaluated at most (in batches of the run's batch size, 64 batches).
const MAX_EVAL_BATCHES: usize = 64;
/// Mixed into the run's seed for the held-out masks, so that they differ from the training stream's.
const EVAL_SEED: u64 = 0x5eed_e7a1;

/// The settings of a pretraining run, with the original recipe's defaults. The browser's options object
/// deserializes into it (camelCase names: `batchSize`, `seqLen`, ...; unknown names refused).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Recipe {
    pub batch_size: usize,
    /// Tokens per sequence (`[CLS] A [SEP] B [SEP]`); a multiple of 4, at least 8.
    pub seq_len: usize,
    /// Masked positions per sequence at most (BERT: 20 at 128 tokens).
    pub max_predictions: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Warmup steps; None: 1% of the steps, as BERT's 10k of 1M.
    pub warmup: Option<u64>,
    pub weight_decay: f64,
    /// Micro-batches per optimizer step.
    pub accumulation: usize,
    pub optimizer: AdamVariant,
    pub seed: u64,
    /// Mask all the pieces of a word together.
    pub whole_word_masking: bool,
    /// Share of instances with a shorter random target length.
    pub short_seq_prob: f64,
    /// Optimizer steps of the schedule; None: `epochs` passes over the corpus (default one).
    pub steps: Option<u64>,
    pub epochs: Option<f64>,
    /// Every N-th document is held out for evaluation, never trained on (0: none).
    pub holdout_every: u64,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            batch_size: 8,
            seq_len: 128,
            max_predictions: 20,
            lr: 1e-4,
            warmup: None,
            weight_decay: 0.01,
            accumulation: 1,
            optimizer: AdamVariant::Torch,
            seed: 12345,
            whole_word_masking: false,
            short_seq_prob: 0.1,
            steps: None,
            epochs: None,
            holdout_every: 100,
        }
    }
}

impl Recipe {
    /// Every setting within its domain, or an error naming the first that is not as `spell` writes its
    /// field name (the CLI: `--seq-len`; the browser: `seqLen`).
    pub fn check(&self, spell: impl Fn(&str) -> String) -> Result<()> {
        let err = |field: &str, rest: String| Err(Error::new(format!("{} {rest}", spell(field))));
        if !self.seq_len.is_multiple_of(4) || self.seq_len < 8 {
            return err(
                "seq_len",
                format!("{}: must be a multiple of 4 and at least 8", self.seq_len),
            );
        }
        for (field, value) in [
            ("batch_size", self.batch_size),
            ("max_predictions", self.max_predictions),
            ("accumulation", self.accumulation),
        ] {
            if value == 0 {
                return err(field, "0: must be at least 1".into());
            }
        }
        if self.max_predictions > self.seq_len {
            return err(
                "max_predictions",
                format!(
                    "{}: must be at most {} ({})",
                    self.max_predictions,
                    spell("seq_len"),
                    self.seq_len
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.short_seq_prob) {
            return err(
                "short_seq_prob",
                format!("{}: must be within 0..=1", self.short_seq_prob),
            );
        }
        match (self.steps, self.epochs) {
            (Some(0), _) => return err("steps", "0: must be at least 1".into()),
            (None, Some(e)) if !(e.is_finite() && e > 0.0) => {
                return err("epochs", format!("{e}: must be positive"));
            }
            _ => {}
        }
        OptimizerConfig::check_options(self.lr, self.weight_decay, None, spell)
    }

    /// The options of `create_pretraining_data` these settings give.
    pub fn pretraining(&self) -> PretrainingOptions {
        PretrainingOptions {
            max_seq_length: self.seq_len,
            max_predictions_per_seq: self.max_predictions,
            short_seq_prob: self.short_seq_prob,
            whole_word_masking: self.whole_word_masking,
            ..Default::default()
        }
    }

    /// The training stream's options: instances as `pretraining()`, seeded by the run's seed.
    pub fn stream(&self) -> StreamOptions {
        StreamOptions {
            pretraining: self.pretraining(),
            seed: self.seed,
            ..Default::default()
        }
    }

    /// Whether the schedule's length needs the number of instances in one pass (no `steps` given).
    pub fn needs_instance_count(&self) -> bool {
        self.steps.is_none()
    }

    /// Optimizer steps of the run: `steps`, or `epochs` (default 1) passes of `instances_per_epoch`.
    pub fn total_steps(&self, instances_per_epoch: u64) -> u64 {
        let per_step = (self.batch_size * self.accumulation) as f64;
        match self.steps {
            Some(s) => s.max(1),
            None => ((instances_per_epoch as f64 * self.epochs.unwrap_or(1.0)) / per_step)
                .ceil()
                .max(1.0) as u64,
        }
    }

    /// AdamW with BERT's betas and clipping, warmup then linear decay over `total_steps`.
    pub fn optimizer(&self, total_steps: u64) -> OptimizerConfig {
        let warmup = self.warmup.unwrap_or(total_steps / 100);
        let mut opt = OptimizerConfig::new(self.optimizer, self.lr, warmup, total_steps);
        opt.weight_decay = self.weight_decay;
        opt
    }

    /// The held-out documents as fixed instances (one masking, seeded by the run's seed), in batches.
    pub fn held_out(&self, documents: &[Document], vocab: &MaskingVocab, pad: u32) -> Result<HeldOut> {
        if documents.is_empty() {
            return Ok(HeldOut { batches: Vec::new() });
        }
        let mut rng = Rng::new(self.seed ^ EVAL_SEED);
        let instances = create_training_instances(documents, vocab, &self.pretraining(), &mut rng)?;
        let batches = instances
            .chunks(self.batch_size)
            .take(MAX_EVAL_BATCHES)
            .map(|chunk| batch_instances_padded(chunk, pad, self.seq_len))
            .collect::<Result<_>>()?;
        Ok(HeldOut { batches })
    }
}

/// Held-out batches, evaluated without dropout and without an update.
pub struct HeldOut {
    pub batches: Vec<PretrainBatch>,
}

impl HeldOut {
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Means over the batches, weighted by masked tokens (MLM) and sequences (NSP).
    pub async fn evaluate(&self, trainer: &Pretrainer) -> Result<StepMetrics> {
        let (mut mlm, mut mlm_acc, mut nsp, mut nsp_acc, mut rows, mut seqs) = (0.0, 0.0, 0.0, 0.0, 0usize, 0usize);
        for b in &self.batches {
            let m = trainer.evaluate(b).await?;
            let (r, s) = (b.mlm_rows.len(), b.batch.batch);
            mlm += m.mlm_loss * r as f64;
            mlm_acc += m.mlm_accuracy * r as f64;
            nsp += m.nsp_loss * s as f64;
            nsp_acc += m.nsp_accuracy * s as f64;
            rows += r;
            seqs += s;
        }
        let (r, s) = (rows.max(1) as f64, seqs.max(1) as f64);
        Ok(StepMetrics {
            loss: mlm / r + nsp / s,
            mlm_loss: mlm / r,
            nsp_loss: nsp / s,
            mlm_accuracy: mlm_acc / r,
            nsp_accuracy: nsp_acc / s,
            masked_tokens: rows,
            ..Default::default()
        })
    }
}
