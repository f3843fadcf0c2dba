//! `bert-wgpu finetune`: a pretrained encoder plus a task head, trained on labelled rows, with the
//! progress bar, metrics log, curve, checkpoints, `--resume` and NaN handling of pretraining, evaluation
//! after each epoch and optional early stopping on the task's metric.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bert_wgpu::model::{AttentionMode, Bert, BertConfig};
use bert_wgpu::tasks::features::FeatureSettings;
use bert_wgpu::tasks::files::read_text_file;
use bert_wgpu::tasks::Examples;
use bert_wgpu::tasks::{is_regression, LabelMap, Task};
use bert_wgpu::train::finetune::{with_task, Finetuner, Recipe};
use bert_wgpu::train::optimizer::OptimizerConfig;
use bert_wgpu::train::task_data::TaskData;
use bert_wgpu::{Error, Gpu, Result};
use serde::{Deserialize, Serialize};

use super::model_dir::{read_model, read_model_dir};
use super::run_dir;
use bert_wgpu::error::Context;

mod run;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    bert-wgpu finetune --task seq-cls --model pretrained/austen-bert-tiny --train train.tsv --eval dev.tsv --out models/sentiment\n  \
    bert-wgpu finetune --task pair-cls --model DIR --train pairs.tsv --eval pairs-dev.tsv --out models/nli --epochs 5\n  \
    bert-wgpu finetune --task token-cls --model DIR --train ner.conll --eval ner-dev.conll --out models/ner\n  \
    bert-wgpu finetune --task qa --model DIR --train squad.json --eval squad-dev.json --out models/qa --max-length 384\n  \
    bert-wgpu finetune ... --out models/sentiment --resume")]
pub struct FinetuneArgs {
    /// seq-cls (text, label), pair-cls (text, text_pair, label), token-cls (CoNLL or JSON lines of tokens
    /// and tags) or qa (SQuAD JSON).
    #[arg(long, value_parser = Task::NAMES)]
    task: String,
    /// A Hugging Face model (a directory or a hub id in the Hugging Face cache): a pretrained encoder (its
    /// pretraining heads are dropped and a fresh head is added) or a model with this task's head.
    #[arg(long, value_name = "DIR|ID", required_unless_present = "resume")]
    model: Option<PathBuf>,
    /// With a hub id for --model: the branch, tag or commit hash.
    #[arg(long, default_value = bert_wgpu::io::hub::DEFAULT_REVISION)]
    revision: String,
    /// Training data: .tsv / .csv with a header or .jsonl (classification), .conll / .jsonl (tokens), .json (QA).
    #[arg(long)]
    train: PathBuf,
    /// Evaluation data (same format), scored after every epoch.
    #[arg(long)]
    eval: Option<PathBuf>,
    /// Output directory: checkpoints, the final model, metrics.jsonl, curve.svg.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    #[arg(long, default_value_t = 32, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch_size: usize,
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    /// Linear warmup over this share of the steps, then linear decay to 0.
    #[arg(long, default_value_t = 0.1)]
    warmup_ratio: f64,
    /// AdamW weight decay (not on biases and LayerNorm weights).
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Global gradient-norm clipping (0: off).
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    #[command(flatten)]
    window: WindowArgs,
    /// Sequence classification: the label is a number to regress (one output, squared error).
    #[arg(long)]
    regression: bool,
    /// Stop after this many evaluations without a better eval metric; the final model is the best one.
    #[arg(long)]
    early_stopping: Option<u32>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Log (and draw) every N steps.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    log_every: u64,
    /// Save a checkpoint every N steps (and after every epoch).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    save_every: u64,
    /// Use only the first N training examples.
    #[arg(long)]
    limit: Option<usize>,
    /// Use only the first N evaluation examples.
    #[arg(long)]
    eval_limit: Option<usize>,
    /// Replace an existing output directory.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Continue from the newest checkpoint in --out with its saved settings.
    #[arg(long)]
    resume: bool,
}

impl FinetuneArgs {
    fn recipe(&self) -> Recipe {
        Recipe {
            lr: self.lr,
            warmup_ratio: self.warmup_ratio,
            weight_decay: self.weight_decay,
            clip: self.clip,
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
        }
    }
}

/// How labelled inputs become model windows; `finetune` and `eval` share these flags.
#[derive(clap::Args, Clone)]
pub struct WindowArgs {
    /// Tokens per input, [CLS] and [SEP]s included [default: finetune 128, eval the model's
    /// max_position_embeddings up to 512; never more than max_position_embeddings].
    #[arg(long)]
    pub max_length: Option<usize>,
    /// QA: tokens shared by consecutive windows of a long context.
    #[arg(long, default_value_t = 128)]
    pub doc_stride: usize,
    /// QA: the longest answer, in tokens.
    #[arg(long, default_value_t = 30)]
    pub max_answer_length: usize,
}

impl WindowArgs {
    /// The feature settings for a model of `config`: --max-length, else `default_length` (both at most its
    /// max_position_embeddings), with the stride at most half a window.
    pub fn settings(&self, config: &BertConfig, default_length: usize) -> Result<FeatureSettings> {
        let positions = config.max_position_embeddings;
        FeatureSettings {
            max_len: self.max_length.unwrap_or(positions.min(default_length)),
            doc_stride: self.doc_stride,
            max_answer_len: self.max_answer_length,
        }
        .for_positions(positions, run_dir::flag)
    }
}

/// trainer_state.json of a fine-tuning checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FinetuneState {
    step: u64,
    optimizer: OptimizerConfig,
    seed: u64,
    task: String,
    batch_size: usize,
    epochs: u64,
    settings_max_len: usize,
    doc_stride: usize,
    max_answer_len: usize,
    regression: bool,
    limit: Option<usize>,
    /// (step, metric) of the best evaluation so far.
    best: Option<(u64, f64)>,
    /// Evaluations since the best one.
    since_best: u32,
}

/// Reads a dataset file for `task`, keeping the first `limit` examples.
pub fn read_examples(task: Task, path: &Path, limit: Option<usize>) -> Result<Examples> {
    let (text, name) = read_text_file(path)?;
    let mut examples = Examples::parse(task, &text, &name)?;
    if let Some(n) = limit {
        examples.truncate(n);
    }
    Ok(examples)
}

/// A model's head against the task: an error when it has another head.
pub fn check_head(bert: &Bert, task: Task, dir: &Path) -> Result<()> {
    let want = task.head;
    match bert.weights.task.as_ref().map(|t| t.kind) {
        Some(kind) if kind != want => Err(Error::new(format!(
            "{}: the model is a {}, but --task {} needs a {} (or an encoder without a task head)",
            dir.display(),
            kind.architecture(),
            task.name(),
            want.architecture()
        ))),
        _ => Ok(()),
    }
}

struct Run {
    args: FinetuneArgs,
    task: Task,
    trainer: Finetuner,
    train: TaskData,
    eval: Option<TaskData>,
    steps_per_epoch: u64,
    state: FinetuneState,
    log: std::fs::File,
    /// (step, name, value) of every logged number, for the curve.
    history: Vec<(u64, String, f64)>,
}

pub async fn run(args: FinetuneArgs) -> Result<()> {
    let out = args.out.clone();
    run_dir::locked_run(&out, run_in(args)).await
}

async fn run_in(args: FinetuneArgs) -> Result<()> {
    let task = Task::parse(&args.task)?;
    let checkpoint = match args.resume {
        true => Some(run_dir::checkpoint_to_resume(&args.out)?),
        false => None,
    };
    let saved: Option<FinetuneState> = match &checkpoint {
        Some((_, dir)) => {
            let path = dir.join("trainer_state.json");
            let bytes = std::fs::read(&path).context(path.display())?;
            Some(serde_json::from_slice(&bytes).context(path.display())?)
        }
        None => None,
    };
    let mut args = args;
    if let Some(s) = &saved {
        if s.task != args.task {
            return Err(Error::new(format!(
                "--resume: the checkpoint was trained for --task {}",
                s.task
            )));
        }
        (args.seed, args.batch_size, args.epochs) = (s.seed, s.batch_size, s.epochs);
        args.window = WindowArgs {
            max_length: Some(s.settings_max_len),
            doc_stride: s.doc_stride,
            max_answer_length: s.max_answer_len,
        };
        (args.regression, args.limit) = (s.regression, s.limit);
    }
    let model_dir = checkpoint.as_ref().map(|c| c.1.clone()).or(args.model.clone()).unwrap();

    // Everything is read and checked before the output directory is touched.
    let gpu = Rc::new(Gpu::new().await?);
    let files = match &checkpoint {
        Some(_) => read_model_dir(&model_dir)?,
        None => read_model(&model_dir, &args.revision)?,
    };
    let bert = Bert::load(gpu, &files).context(model_dir.display())?;
    check_head(&bert, task, &model_dir)?;
    let settings = args.window.settings(&bert.config, 128)?;
    let max_length = settings.max_len;
    let train_examples = read_examples(task, &args.train, args.limit)?;
    let regression = args.regression || (bert.weights.task.is_some() && is_regression(&bert.config));
    let labels =
        (task.labelled(regression)).then(|| LabelMap::for_training(&bert.config, train_examples.label_values()));
    let file = args.train.display().to_string();
    let train = TaskData::new(
        task,
        &file,
        train_examples,
        &bert.tokenizer,
        labels.clone(),
        settings,
        true,
    )?;
    train.check_learnable()?;
    let eval = match &args.eval {
        Some(path) => {
            let examples = read_examples(task, path, args.eval_limit)?;
            let file = path.display().to_string();
            examples.check_labels_trained(labels.as_ref(), &bert.config, &file, &args.train.display().to_string())?;
            // Answer-span targets for QA too, so that the eval loss is measured.
            Some(TaskData::new(
                task,
                &file,
                examples,
                &bert.tokenizer,
                labels.clone(),
                settings,
                true,
            )?)
        }
        None => None,
    };
    if args.early_stopping.is_some() && eval.is_none() {
        return Err(Error::new("--early-stopping needs --eval"));
    }
    run_dir::check_optimizer_flags(args.lr, args.weight_decay, Some(args.clip))?;
    bert.gpu.set_limit_hint("--batch-size or --max-length");
    bert_wgpu::model::check_fits(&bert.gpu, &bert.config, args.batch_size, max_length.next_multiple_of(4))?;
    run_dir::prepare(&args.out, args.overwrite, args.resume)?;

    let bert = with_task(bert, task.head, labels.as_ref(), args.seed)?;
    let recipe = args.recipe();
    let steps_per_epoch = recipe.steps_per_epoch(train.features.len());
    let opt = recipe.optimizer(train.features.len());
    let mut trainer = Finetuner::new(
        bert,
        saved.as_ref().map_or(opt.clone(), |s| s.optimizer.clone()),
        args.seed,
    )?;
    // The largest batch's training activations, created now so that the check sees them.
    let padded = max_length.next_multiple_of(4);
    trainer
        .bert
        .workspace(args.batch_size, padded, true, AttentionMode::KeepProbabilities)?;
    trainer
        .bert
        .gpu
        .check_memory("the model, its optimizer state and the training workspace")?;
    trainer.bert.release_workspace();
    let shapes = trainer.bert.config.matmul_shapes(args.batch_size, max_length, 0, true);
    super::tuning::prepare(&trainer.bert.gpu, &shapes).await?;
    if let (Some(s), Some((_, dir))) = (&saved, &checkpoint) {
        let path = dir.join("optimizer.safetensors");
        let bytes = std::fs::read(&path).context(path.display())?;
        trainer.load_optimizer_state(&bytes, s.step).context(dir.display())?;
        eprintln!("resuming from {} at step {}", dir.display(), s.step);
    }
    let state = saved.clone().unwrap_or(FinetuneState {
        step: 0,
        optimizer: opt,
        seed: args.seed,
        task: args.task.clone(),
        batch_size: args.batch_size,
        epochs: args.epochs,
        settings_max_len: max_length,
        doc_stride: args.window.doc_stride,
        max_answer_len: args.window.max_answer_length,
        regression,
        limit: args.limit,
        best: None,
        since_best: 0,
    });
    let (log, kept) = run_dir::open_log(&args.out, args.overwrite, saved.as_ref().map(|s| s.step))?;
    let history = kept
        .iter()
        .flat_map(|v| {
            let step = v["step"].as_u64().unwrap_or(0);
            let split = v["split"].as_str().unwrap_or("train").to_string();
            let obj = v.as_object().cloned().unwrap_or_default();
            obj.into_iter()
                .filter_map(move |(k, x)| Some((step, format!("{split} {k}"), x.as_f64()?)))
        })
        .collect();
    eprintln!(
        "{}: {} examples, {} features; {} steps per epoch, {} epochs",
        args.train.display(),
        train.examples.len(),
        train.features.len(),
        steps_per_epoch,
        args.epochs
    );
    let mut run = Run {
        args,
        task,
        trainer,
        train,
        eval,
        steps_per_epoch,
        state,
        log,
        history,
    };
    run.train().await
}
