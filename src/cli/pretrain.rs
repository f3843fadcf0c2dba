//! `bert-wgpu pretrain`: raw text in, a Hugging Face BertForPreTraining directory out, with the original
//! recipe (MLM + NSP), a progress bar, a metrics log, a loss curve, held-out evaluation, atomic
//! checkpoints, exact resume and a checkpoint on Ctrl-C.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bert_wgpu::io::{ModelFiles, SaveDtype};
use bert_wgpu::model::{weights, Bert, BertConfig, Weights};
use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::train::checkpoint::TrainerState;
use bert_wgpu::train::corpus::Corpus;
use bert_wgpu::train::data::MaskingVocab;
use bert_wgpu::train::data::{batch_instances_padded, InstanceStream};
use bert_wgpu::train::optimizer::{AdamVariant, OptimizerConfig};
use bert_wgpu::train::pretrain::{Pretrainer, StepMetrics};
use bert_wgpu::train::recipe::{self, HeldOut, Recipe};
use bert_wgpu::{Error, Gpu, Result};

use super::model_dir::{read_model_dir, write_atomic, write_model_dir};
use super::plot::{line_chart_svg, Series};
use super::run_dir;
use bert_wgpu::error::Context;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    bert-wgpu vocab --corpus austen.txt --size 8000 --out vocab/\n  \
    bert-wgpu pretrain --corpus austen.txt --config mini --tokenizer vocab/ --steps 2000 --out models/austen\n  \
    bert-wgpu pretrain --corpus austen.txt --config mini --tokenizer vocab/ --steps 4000 --out models/austen --resume")]
pub struct PretrainArgs {
    /// Corpus files: one sentence a line, a blank line between documents.
    #[arg(long, num_args = 1.., required = true)]
    corpus: Vec<PathBuf>,
    /// Continue pretraining a Hugging Face BertForPreTraining directory.
    #[arg(long, conflicts_with = "config")]
    model: Option<PathBuf>,
    /// A fresh model: a preset (tiny, mini, small, medium, base) or a config.json.
    #[arg(long, requires = "tokenizer")]
    config: Option<String>,
    /// Directory with vocab.txt / tokenizer.json for a fresh model (see `bert-wgpu vocab`).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Output directory: checkpoints, the final model, metrics.jsonl, loss.svg.
    #[arg(long)]
    out: PathBuf,
    /// Optimizer steps (default: one pass over the corpus, or --epochs passes).
    #[arg(long)]
    steps: Option<u64>,
    #[arg(long)]
    epochs: Option<f64>,
    #[arg(long, default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch_size: usize,
    /// Tokens per sequence ([CLS] A [SEP] B [SEP]); a multiple of 4.
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_predictions: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Warmup steps (default: 1% of the steps, as BERT's 10k of 1M).
    #[arg(long)]
    warmup: Option<u64>,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    accumulation: usize,
    #[arg(long, value_enum, default_value_t = OptimizerArg::Torch)]
    optimizer: OptimizerArg,
    #[arg(long, default_value_t = 12345)]
    seed: u64,
    /// Mask whole words (all ## pieces together).
    #[arg(long)]
    whole_word_masking: bool,
    #[arg(long, default_value_t = 0.1)]
    short_seq_prob: f64,
    /// Log (and draw) every N steps.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    log_every: u64,
    /// Evaluate on the held-out documents every N steps (and at the end).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    eval_every: u64,
    /// Hold out every N-th document for evaluation (0: none).
    #[arg(long, default_value_t = 100)]
    holdout_every: u64,
    /// Save a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    save_every: u64,
    /// Write the final model's weights as f16 (checkpoints and optimizer state stay f32).
    #[arg(long)]
    f16: bool,
    /// Replace an existing output directory.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OptimizerArg {
    /// torch.optim.AdamW (bias correction, eps 1e-8), as Hugging Face's Trainer
    Torch,
    /// the original BERT's AdamWeightDecay (no bias correction, eps 1e-6)
    Google,
}

impl PretrainArgs {
    /// The run's settings; the defaults are the library's (`Recipe::default`), as in the browser.
    fn recipe(&self) -> Recipe {
        Recipe {
            batch_size: self.batch_size,
            seq_len: self.seq_len,
            max_predictions: self.max_predictions,
            lr: self.lr,
            warmup: self.warmup,
            weight_decay: self.weight_decay,
            accumulation: self.accumulation,
            optimizer: match self.optimizer {
                OptimizerArg::Torch => AdamVariant::Torch,
                OptimizerArg::Google => AdamVariant::Google,
            },
            seed: self.seed,
            whole_word_masking: self.whole_word_masking,
            short_seq_prob: self.short_seq_prob,
            steps: self.steps,
            epochs: self.epochs,
            holdout_every: self.holdout_every,
        }
    }
}

/// A flag as the user types it: `seq_len` is `--seq-len`.
fn flag(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

/// A fresh model's config: a preset or a config.json, for the tokenizer's vocabulary.
fn fresh_config(spec: &str, tokenizer: &BertTokenizer) -> Result<BertConfig> {
    let config = match recipe::preset(spec, tokenizer.vocab_size()) {
        Some(c) => c,
        None => {
            let bytes = std::fs::read(spec).map_err(|e| {
                Error::new(format!(
                    "--config {spec}: not a preset ({}) and not readable: {e}",
                    recipe::preset_names()
                ))
            })?;
            BertConfig::from_json(&bytes).context(spec)?
        }
    };
    recipe::fresh_config(config, tokenizer)
}

struct Run {
    args: PretrainArgs,
    trainer: Pretrainer,
    stream: InstanceStream,
    corpus: Corpus,
    recipe: Recipe,
    held_out: Option<HeldOut>,
    total_steps: u64,
    log: std::fs::File,
    history: Vec<(u64, StepMetrics, bool)>,
}

pub async fn run(args: PretrainArgs) -> Result<()> {
    let out = args.out.clone();
    run_dir::locked_run(&out, run_in(args)).await
}

async fn run_in(args: PretrainArgs) -> Result<()> {
    args.recipe().check(flag)?;
    let out = args.out.clone();
    let resume = match args.resume {
        true => Some(run_dir::checkpoint_to_resume(&out)?),
        false => None,
    };
    run_dir::prepare(&out, args.overwrite, args.resume)?;

    let gpu = Rc::new(Gpu::new().await?);
    // The model: a checkpoint to resume, a directory to continue, or a fresh initialisation.
    let (bert, state) = match (&resume, &args.model, &args.config) {
        (Some((_, dir)), _, _) => {
            let bert = Bert::load(gpu.clone(), &read_model_dir(dir)?).context(dir.display())?;
            let bytes = std::fs::read(dir.join("trainer_state.json")).context(dir.display())?;
            let state: TrainerState =
                serde_json::from_slice(&bytes).map_err(|e| Error::new(format!("trainer_state.json: {e}")))?;
            (bert, Some(state))
        }
        (None, Some(dir), _) => (
            Bert::load(gpu.clone(), &read_model_dir(dir)?).context(dir.display())?,
            None,
        ),
        (None, None, Some(spec)) => {
            let dir = args.tokenizer.as_ref().unwrap();
            let files = read_tokenizer_dir(dir)?;
            let tokenizer = files.tokenizer().context(dir.display())?;
            let config = fresh_config(spec, &tokenizer)?;
            let w = Weights::from_host(&gpu, &config, weights::init_host(&config, args.seed), "initialisation")?;
            (Bert::from_parts(gpu.clone(), config, w, tokenizer, files), None)
        }
        _ => {
            return Err(Error::new(
                "give --model DIR, or --config PRESET|config.json with --tokenizer DIR",
            ))
        }
    };
    let vocab = MaskingVocab::from_tokenizer(&bert.tokenizer)?;
    // A resumed run keeps the settings it was saved with, whatever the flags say.
    let mut args = args;
    if let Some(s) = &state {
        args.seed = s.seed;
        args.batch_size = s.batch_size;
        args.seq_len = s.seq;
        args.max_predictions = s.max_predictions;
        args.accumulation = s.accumulation;
        args.short_seq_prob = s.stream.options.pretraining.short_seq_prob;
        args.whole_word_masking = s.stream.options.pretraining.whole_word_masking;
    }
    let recipe = args.recipe();
    // The model and batch shape fit the adapter (checked before the corpus is read), after which the hint
    // about what to lower applies to the activations only.
    bert.gpu.set_limit_hint("--batch-size or --seq-len");
    bert_wgpu::model::check_fits(&bert.gpu, &bert.config, args.batch_size, args.seq_len)?;
    let mut corpus = Corpus::files(args.corpus.clone(), &bert.tokenizer, args.holdout_every)?;

    // Steps: given, or counted from one pass over the corpus (which also collects the held-out documents).
    let total_steps = match (args.steps, &state) {
        (_, Some(s)) => args.steps.unwrap_or(s.optimizer.total_steps),
        _ if recipe.needs_instance_count() => {
            let pass = corpus.count_pass(&vocab, &recipe.stream())?;
            eprintln!("one pass over the corpus gives {} instances", pass.instances);
            recipe.total_steps(pass.instances)
        }
        _ => recipe.total_steps(0),
    };
    let mut opt = recipe.optimizer(total_steps);
    let stream = match &state {
        Some(s) => {
            opt = OptimizerConfig {
                total_steps,
                ..s.optimizer.clone()
            };
            InstanceStream::resume(vocab.clone(), s.stream.clone())?
        }
        None => InstanceStream::new(vocab.clone(), recipe.stream())?,
    };
    let mut trainer = Pretrainer::new(
        bert,
        opt,
        args.batch_size,
        args.seq_len,
        args.max_predictions,
        args.accumulation,
    )?;
    trainer
        .bert
        .gpu
        .check_memory("the model, its optimizer state and the training workspace")?;
    let rows = args.batch_size * args.max_predictions;
    let shapes = bert_wgpu::ops::tune::model_shapes(&trainer.bert.config, args.batch_size, args.seq_len, rows, true);
    super::tuning::prepare(&trainer.bert.gpu, &shapes).await?;
    trainer.seed = args.seed;
    if let (Some(s), Some((_, dir))) = (&state, &resume) {
        let bytes = std::fs::read(dir.join("optimizer.safetensors")).context(dir.display())?;
        trainer.load_optimizer_state(&bytes, s.step).context(dir.display())?;
        eprintln!("resuming from {} at step {}", dir.display(), s.step);
    }
    // The log continues from the checkpoint: lines of an interrupted run past it are dropped.
    let (log, kept) = run_dir::open_log(&out, args.overwrite, state.as_ref().map(|s| s.step))?;
    let mut run = Run {
        args,
        trainer,
        stream,
        corpus,
        recipe,
        held_out: None,
        total_steps,
        log,
        history: read_history(&kept),
    };
    run.train(&vocab).await
}

fn read_tokenizer_dir(dir: &Path) -> Result<ModelFiles> {
    let opt = |name: &str| std::fs::read(dir.join(name)).ok();
    let files = ModelFiles {
        tokenizer_json: opt("tokenizer.json"),
        vocab_txt: opt("vocab.txt"),
        tokenizer_config: opt("tokenizer_config.json"),
        special_tokens_map: opt("special_tokens_map.json"),
        ..Default::default()
    };
    if files.tokenizer_json.is_none() && files.vocab_txt.is_none() {
        return Err(Error::new(format!("{}: no tokenizer.json or vocab.txt", dir.display())));
    }
    Ok(files)
}

/// The curve's points from the log lines a resumed run keeps.
fn read_history(kept: &[serde_json::Value]) -> Vec<(u64, StepMetrics, bool)> {
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
    async fn train(&mut self, vocab: &MaskingVocab) -> Result<()> {
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
                && (next % a.log_every == 0
                    || next % a.eval_every == 0
                    || next % a.save_every == 0
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
                if step % self.args.log_every == 0 || step == self.total_steps {
                    self.log_line(step, &m, "train", Some(rate))?;
                }
            }
            let last = step == self.total_steps;
            if let (true, Some(held_out)) = (step % self.args.eval_every == 0 || last, &self.held_out) {
                let e = held_out.evaluate(&self.trainer).await?;
                bar.println(format!(
                    "step {step}: held-out loss {:.4} mlm_acc {:.4} nsp_acc {:.4}",
                    e.loss, e.mlm_accuracy, e.nsp_accuracy
                ));
                self.log_line(step, &e, "eval", None)?;
            }
            let stop = interrupted.load(Ordering::SeqCst);
            if step % self.args.save_every == 0 || last || stop {
                self.save_checkpoint().await?;
            }
            if stop {
                bar.abandon_with_message(format!("interrupted: checkpoint-{step} saved"));
                return Err(Error::new(format!("interrupted at step {step}; resume with --resume")));
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
                Series {
                    label: "train loss",
                    color: "#1f77b4",
                    points: pick(false, |m| m.loss),
                },
                Series {
                    label: "held-out loss",
                    color: "#d62728",
                    points: pick(true, |m| m.loss),
                },
                Series {
                    label: "train MLM accuracy",
                    color: "#2ca02c",
                    points: pick(false, |m| m.mlm_accuracy),
                },
                Series {
                    label: "held-out MLM accuracy",
                    color: "#ff7f0e",
                    points: pick(true, |m| m.mlm_accuracy),
                },
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
