//! A pretraining run once set up: the step loop with its progress bar, the metrics log and loss curve,
//! held-out evaluation, checkpoints and the final model.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bert_wgpu::io::{ModelFiles, SaveDtype};
use bert_wgpu::train::checkpoint::TrainerState;
use bert_wgpu::train::corpus::Corpus;
use bert_wgpu::train::data::{batch_instances_padded, InstanceStream, MaskingVocab};
use bert_wgpu::train::pretrain::{Pretrainer, StepMetrics};
use bert_wgpu::train::recipe::{HeldOut, Recipe};
use bert_wgpu::{Error, Result};

use super::super::model_dir::{write_atomic, write_model_dir};
use super::super::plot::{line_chart_svg, Series};
use super::super::run_dir;
use super::PretrainArgs;

pub(super) struct Run {
    pub(super) args: PretrainArgs,
    pub(super) trainer: Pretrainer,
    pub(super) stream: InstanceStream,
    pub(super) corpus: Corpus,
    pub(super) recipe: Recipe,
    pub(super) held_out: Option<HeldOut>,
    pub(super) total_steps: u64,
    pub(super) log: std::fs::File,
    pub(super) history: Vec<(u64, StepMetrics, bool)>,
}

/// The curve's points from the log lines a resumed run keeps.
pub(super) fn read_history(kept: &[serde_json::Value]) -> Vec<(u64, StepMetrics, bool)> {
    kept.iter()
        .map(|v| {
            let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            let m = StepMetrics {
                loss: f("loss"),
                mlm_loss: f("mlm_loss"),
                nsp_loss: f("nsp_loss"),
                mlm_accuracy: f("mlm_accuracy"),
                nsp_accuracy: f("nsp_accuracy"),
                ..Default::default()
            };
            (v["step"].as_u64().unwrap(), m, v["split"] == "eval")
        })
        .collect()
}

impl Run {
    pub(super) async fn train(&mut self, vocab: &MaskingVocab) -> Result<()> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
        let bar = indicatif::ProgressBar::new(self.total_steps);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
                .unwrap(),
        );
        bar.set_position(self.trainer.step);
        let started = Instant::now();
        let mut tokens = 0usize;
        let mut instances = Vec::with_capacity(self.args.batch_size);
        while self.trainer.step < self.total_steps {
            instances.clear();
            while instances.len() < self.args.batch_size {
                instances.push(self.corpus.next_instance(&mut self.stream)?);
            }
            // Made once the first held-out documents are read (all of them when the pass was counted).
            if self.held_out.is_none() && !self.corpus.held_out.is_empty() {
                let pad = self.trainer.bert.tokenizer.pad_id();
                self.held_out = Some(self.recipe.held_out(&self.corpus.held_out, vocab, pad)?);
            }
            let batch = batch_instances_padded(&instances, self.trainer.bert.tokenizer.pad_id(), self.args.seq_len)?;
            tokens += instances.iter().map(|i| i.len()).sum::<usize>();
            // Metrics come back (a wait for the GPU) only on the steps that log, evaluate or save, and at
            // an interrupt; in between the steps are submitted without waiting. A diverging loss is caught
            // at the next step that reads, always before a checkpoint is written.
            let next = self.trainer.step + 1;
            let completes = self.trainer.micro + 1 == self.trainer.accumulation;
            let a = &self.args;
            let read = completes
                && (next.is_multiple_of(a.log_every)
                    || next.is_multiple_of(a.eval_every)
                    || next.is_multiple_of(a.save_every)
                    || next == self.total_steps
                    || interrupted.load(Ordering::SeqCst));
            let m = self
                .trainer
                .step(&batch, read)
                .await
                .map_err(|e| Error::of(e.kind, format!("{e}; {}", run_dir::what_is_kept(&self.args.out))))?;
            if self.trainer.micro != 0 {
                continue;
            }
            let step = self.trainer.step;
            let rate = tokens as f64 / started.elapsed().as_secs_f64();
            bar.set_position(step);
            if let Some(m) = m {
                bar.set_message(format!(
                    "loss {:.3} mlm_acc {:.3} nsp_acc {:.3} {:.0} tok/s",
                    m.loss, m.mlm_accuracy, m.nsp_accuracy, rate
                ));
                if step.is_multiple_of(self.args.log_every) || step == self.total_steps {
                    self.log_line(step, &m, "train", Some(rate))?;
                }
            }
            let last = step == self.total_steps;
            if let (true, Some(held_out)) = (step.is_multiple_of(self.args.eval_every) || last, &self.held_out) {
                let e = held_out.evaluate(&self.trainer).await?;
                bar.println(format!(
                    "step {step}: held-out loss {:.4} mlm_acc {:.4} nsp_acc {:.4}",
                    e.loss, e.mlm_accuracy, e.nsp_accuracy
                ));
                self.log_line(step, &e, "eval", None)?;
            }
            let stop = interrupted.load(Ordering::SeqCst);
            if step.is_multiple_of(self.args.save_every) || last || stop {
                self.save_checkpoint().await?;
            }
            if stop {
                return Err(run_dir::interrupted(&bar, step));
            }
        }
        bar.finish();
        self.save_final().await
    }

    fn log_line(&mut self, step: u64, m: &StepMetrics, split: &str, rate: Option<f64>) -> Result<()> {
        let mut v = serde_json::to_value(m).unwrap();
        v["step"] = step.into();
        v["split"] = split.into();
        v["epoch"] = self.stream.epoch().into();
        if let Some(r) = rate {
            v["tokens_per_second"] = r.into();
        }
        writeln!(self.log, "{v}").map_err(|e| Error::new(format!("metrics.jsonl: {e}")))?;
        self.history.push((step, m.clone(), split == "eval"));
        Ok(())
    }

    fn curve_svg(&self) -> String {
        let pick = |eval: bool, f: fn(&StepMetrics) -> f64| -> Vec<(f64, f64)> {
            self.history
                .iter()
                .filter(|h| h.2 == eval)
                .map(|h| (h.0 as f64, f(&h.1)))
                .collect()
        };
        line_chart_svg(
            "bert-wgpu pretraining",
            "optimizer step",
            &[
                Series::new("train loss", "#1f77b4", pick(false, |m| m.loss)),
                Series::new("held-out loss", "#d62728", pick(true, |m| m.loss)),
                Series::new("train MLM accuracy", "#2ca02c", pick(false, |m| m.mlm_accuracy)),
                Series::new("held-out MLM accuracy", "#ff7f0e", pick(true, |m| m.mlm_accuracy)),
            ],
        )
    }

    /// The model's files; f16 weights only for the final model (checkpoints keep f32 to resume exactly).
    async fn model_files(&self, last: bool) -> Result<ModelFiles> {
        let dtype = if self.args.f16 && last {
            SaveDtype::F16
        } else {
            SaveDtype::F32
        };
        self.trainer.bert.save_files(dtype).await
    }

    fn trainer_state(&self) -> TrainerState {
        TrainerState {
            step: self.trainer.step,
            optimizer: self.trainer.optimizer.config.clone(),
            seed: self.args.seed,
            stream: self.stream.state(),
            batch_size: self.args.batch_size,
            seq: self.args.seq_len,
            max_predictions: self.args.max_predictions,
            accumulation: self.args.accumulation,
        }
    }

    /// checkpoint-<step>/: the model directory, optimizer.safetensors and trainer_state.json, written to a
    /// temporary directory and renamed; older checkpoints beyond the last two are removed.
    async fn save_checkpoint(&self) -> Result<()> {
        let files = self.model_files(false).await?;
        let optimizer = self.trainer.optimizer_state().await?;
        let state = serde_json::to_vec_pretty(&self.trainer_state()).unwrap();
        let mut list = files.named();
        list.push(("optimizer.safetensors", &optimizer));
        list.push(("trainer_state.json", &state));
        let dir = self.args.out.join(format!("checkpoint-{}", self.trainer.step));
        write_model_dir(&dir, &list)?;
        write_atomic(&self.args.out.join("loss.svg"), self.curve_svg().as_bytes())?;
        run_dir::prune_checkpoints(&self.args.out, 2, None);
        Ok(())
    }

    /// The final model in the output directory itself, each file written atomically.
    async fn save_final(&self) -> Result<()> {
        let files = self.model_files(true).await?;
        for (name, bytes) in files.named() {
            write_atomic(&self.args.out.join(name), bytes)?;
        }
        write_atomic(&self.args.out.join("loss.svg"), self.curve_svg().as_bytes())?;
        eprintln!("saved {} (step {})", self.args.out.display(), self.trainer.step);
        Ok(())
    }
}
