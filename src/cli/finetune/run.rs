//! The fine-tuning loop: batches in the epoch's order, a step each, logging, evaluation after every
//! epoch with early stopping, checkpoints and the final model.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bert_wgpu::io::SaveDtype;
use bert_wgpu::{Error, Result};

use super::super::model_dir::{read_model_dir, write_atomic, write_model_dir};
use super::super::plot::{line_chart_svg, Series};
use super::super::run_dir;
use super::Run;

impl Run {
    pub(super) async fn train(&mut self) -> Result<()> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
        let total = self.steps_per_epoch * self.args.epochs;
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
                .unwrap(),
        );
        bar.set_position(self.trainer.step);
        let (started, mut tokens) = (Instant::now(), 0usize);
        let pad = self.trainer.bert.tokenizer.pad_id();
        while self.trainer.step < total {
            let epoch = self.trainer.step / self.steps_per_epoch;
            let order = self.args.recipe().epoch_order(self.train.features.len(), epoch);
            let first = (self.trainer.step % self.steps_per_epoch) as usize;
            for chunk in order.chunks(self.args.batch_size).skip(first) {
                let b = self.train.batch(chunk, pad);
                tokens += b.batch.lengths.iter().sum::<usize>();
                let m = self
                    .trainer
                    .step(&b)
                    .await
                    .map_err(|e| Error::of(e.kind, format!("{e}; {}", run_dir::what_is_kept(&self.args.out))))?;
                let step = self.trainer.step;
                let rate = tokens as f64 / started.elapsed().as_secs_f64();
                bar.set_position(step);
                let acc = m.accuracy.map(|a| format!(" acc {a:.3}")).unwrap_or_default();
                bar.set_message(format!("epoch {} loss {:.4}{acc} {rate:.0} tok/s", epoch + 1, m.loss));
                if step.is_multiple_of(self.args.log_every) || step.is_multiple_of(self.steps_per_epoch) {
                    let mut v = serde_json::to_value(&m).unwrap();
                    v["tokens_per_second"] = rate.into();
                    self.log_line(step, "train", v)?;
                }
                let stop = interrupted.load(Ordering::SeqCst);
                let epoch_end = step.is_multiple_of(self.steps_per_epoch);
                if epoch_end && self.evaluate(&bar).await? {
                    bar.finish_with_message(format!("early stopping after epoch {}", epoch + 1));
                    return self.save_final().await;
                }
                if step.is_multiple_of(self.args.save_every) || epoch_end || stop {
                    self.save_checkpoint().await?;
                }
                if stop {
                    return Err(run_dir::interrupted(&bar, step));
                }
            }
        }
        bar.finish();
        self.save_final().await
    }

    /// Scores the eval data (if any), logs and prints it; returns whether early stopping says stop.
    async fn evaluate(&mut self, bar: &indicatif::ProgressBar) -> Result<bool> {
        let Some(eval) = &self.eval else { return Ok(false) };
        let (metrics, _) = eval.evaluate(&self.trainer.bert, self.args.batch_size).await?;
        let step = self.trainer.step;
        let line = format!(
            "step {step} (epoch {}): eval {}",
            step / self.steps_per_epoch,
            metrics.line()
        );
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
        self.log_line(step, "eval", serde_json::to_value(&metrics).unwrap())?;
        let (name, higher) = self.task.main_metric(self.state.regression);
        let value = metrics.get(name).unwrap_or(f64::NAN);
        let better = match self.state.best {
            None => true,
            Some((_, best)) => (higher && value > best) || (!higher && value < best),
        };
        if better {
            self.state.best = Some((step, value));
            self.state.since_best = 0;
        } else {
            self.state.since_best += 1;
        }
        let stop = self.args.early_stopping.is_some_and(|p| self.state.since_best >= p);
        if better || stop {
            // The best model must be on disk: its checkpoint is spared by pruning.
            self.save_checkpoint().await?;
        }
        Ok(stop)
    }

    fn log_line(&mut self, step: u64, split: &str, mut v: serde_json::Value) -> Result<()> {
        v["step"] = step.into();
        v["split"] = split.into();
        v["epoch"] = (step as f64 / self.steps_per_epoch as f64).into();
        writeln!(self.log, "{v}").map_err(|e| Error::new(format!("metrics.jsonl: {e}")))?;
        for (k, x) in v.as_object().unwrap() {
            if let Some(x) = x.as_f64() {
                self.history.push((step, format!("{split} {k}"), x));
            }
        }
        Ok(())
    }

    fn curve_svg(&self) -> String {
        let (metric, _) = self.task.main_metric(self.state.regression);
        let eval_metric = format!("eval {metric}");
        let scale = self.task.metric_scale();
        let pick = |name: &str, scale: f64| -> Vec<(f64, f64)> {
            (self.history.iter())
                .filter(|h| h.1 == name)
                .map(|h| (h.0 as f64, h.2 * scale))
                .collect()
        };
        let series = [
            ("train loss", "#1f77b4", pick("train loss", 1.0)),
            ("eval loss", "#d62728", pick("eval loss", 1.0)),
            ("train accuracy", "#2ca02c", pick("train accuracy", 1.0)),
            (eval_metric.as_str(), "#ff7f0e", pick(&eval_metric, scale)),
        ];
        let series: Vec<Series> = (series.into_iter())
            .map(|(label, color, points)| Series::new(label, color, points))
            .collect();
        line_chart_svg(
            &format!("bert-wgpu fine-tuning ({})", self.task.name()),
            "optimizer step",
            &series,
        )
    }

    /// checkpoint-<step>/: the model, optimizer.safetensors and trainer_state.json, written atomically;
    /// the newest two and the best are kept.
    async fn save_checkpoint(&mut self) -> Result<()> {
        let files = self.trainer.bert.save_files(SaveDtype::F32).await?;
        let optimizer = self.trainer.optimizer_state().await?;
        self.state.step = self.trainer.step;
        let state = serde_json::to_vec_pretty(&self.state).unwrap();
        let mut list = files.named();
        list.push(("optimizer.safetensors", &optimizer));
        list.push(("trainer_state.json", &state));
        write_model_dir(&self.args.out.join(format!("checkpoint-{}", self.trainer.step)), &list)?;
        write_atomic(&self.args.out.join("curve.svg"), self.curve_svg().as_bytes())?;
        run_dir::prune_checkpoints(&self.args.out, 2, self.state.best.map(|b| b.0));
        Ok(())
    }

    /// The final model in the output directory itself: with early stopping the best evaluation's model,
    /// otherwise the last one.
    async fn save_final(&mut self) -> Result<()> {
        let best = self.state.best.filter(|_| self.args.early_stopping.is_some());
        let files = match best {
            Some((step, _)) if step != self.trainer.step => {
                read_model_dir(&self.args.out.join(format!("checkpoint-{step}")))?
            }
            _ => self.trainer.bert.save_files(SaveDtype::F32).await?,
        };
        for (name, bytes) in files.named() {
            write_atomic(&self.args.out.join(name), bytes)?;
        }
        write_atomic(&self.args.out.join("curve.svg"), self.curve_svg().as_bytes())?;
        if let Some((step, value)) = self.state.best {
            let (name, _) = self.task.main_metric(self.state.regression);
            eprintln!("best eval {name} {value:.4} at step {step}");
        }
        eprintln!("saved {} (step {})", self.args.out.display(), self.trainer.step);
        Ok(())
    }
}
