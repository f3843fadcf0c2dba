//! `bert-wgpu pretrain`: raw text in, a Hugging Face BertForPreTraining directory out, with the original
//! recipe (MLM + NSP), a progress bar, a metrics log, a loss curve, held-out evaluation, atomic
//! checkpoints, exact resume and a checkpoint on Ctrl-C.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bert_wgpu::io::ModelFiles;
use bert_wgpu::model::{weights, Bert, BertConfig, Weights};
use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::train::checkpoint::TrainerState;
use bert_wgpu::train::corpus::Corpus;
use bert_wgpu::train::data::InstanceStream;
use bert_wgpu::train::data::MaskingVocab;
use bert_wgpu::train::optimizer::{AdamVariant, OptimizerConfig};
use bert_wgpu::train::pretrain::Pretrainer;
use bert_wgpu::train::recipe::{self, Recipe};
use bert_wgpu::{Error, Gpu, Result};

mod run;

use run::{read_history, Run};

use super::model_dir::{read_model, read_model_dir};
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
    /// Continue pretraining a Hugging Face BertForPreTraining model: a directory or a hub id in the Hugging
    /// Face cache.
    #[arg(long, value_name = "DIR|ID", conflicts_with = "config")]
    model: Option<PathBuf>,
    /// With a hub id for --model: the branch, tag or commit hash.
    #[arg(long, default_value = bert_wgpu::io::hub::DEFAULT_REVISION)]
    revision: String,
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

pub async fn run(args: PretrainArgs) -> Result<()> {
    let out = args.out.clone();
    run_dir::locked_run(&out, run_in(args)).await
}

async fn run_in(args: PretrainArgs) -> Result<()> {
    args.recipe().check(run_dir::flag)?;
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
            Bert::load(gpu.clone(), &read_model(dir, &args.revision)?).context(dir.display())?,
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
    let shapes = trainer
        .bert
        .config
        .matmul_shapes(args.batch_size, args.seq_len, rows, true);
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
