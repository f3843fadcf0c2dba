//! The `bert-wgpu` command line: file IO, argument parsing and printing around the library.

/// `println!` for results: a failed write to standard output (a full device) returns an error naming it
/// from the enclosing function instead of panicking. A closed pipe ends the process by SIGPIPE (see main).
macro_rules! outln {
    () => {
        $crate::bert_wgpu_cli::write_stdout(format_args!("\n"))?
    };
    ($($arg:tt)*) => {
        $crate::bert_wgpu_cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` for results, with [`outln!`]'s error handling.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::bert_wgpu_cli::write_stdout(format_args!($($arg)*))?
    };
}

mod bench;
mod commands;
mod finetune;
mod hub;
mod model_dir;
mod plot;
mod predict;
mod pretrain;
mod run_dir;
mod tuning;
mod vocab;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "bert-wgpu",
    version,
    about = "BERT on the GPU through WGSL compute shaders (wgpu)"
)]
#[command(after_help = "Examples:\n  \
    bert-wgpu fill-mask --model pretrained/austen-bert-tiny \"Mr. Darcy was the [MASK] of Pemberley.\"\n  \
    bert-wgpu embed --model models/all-MiniLM-L6-v2 --similarity \"A man is eating.\" \"A man eats food.\"\n  \
    bert-wgpu info\n  \
    bert-wgpu bench\n  \
    bert-wgpu bench --training --preset tiny --vocab-size 8000 --batch-size 64 --seq-len 64\n  \
    bert-wgpu --kernels portable bench --quick")]
struct Cli {
    /// Matmul kernels: `auto` (each shape class gets the fastest correct candidate, measured once per
    /// adapter and cached) or one candidate for every matmul (`bert-wgpu info` lists those that run here).
    #[arg(long, global = true, value_name = "auto|NAME", env = "BERT_WGPU_KERNELS")]
    kernels: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Predict the words behind every [MASK] (top-k per mask), like transformers' fill-mask pipeline.
    #[command(
        after_help = "Examples:\n  bert-wgpu fill-mask --model DIR --top-k 5 --json \"Paris is the [MASK] of France.\"\n  \
                      bert-wgpu fill-mask --model bert-base-uncased \"Paris is the [MASK] of France.\"  (from the Hugging Face cache)"
    )]
    FillMask {
        #[command(flatten)]
        model: model_dir::ModelArg,
        /// Predictions per mask.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// Print transformers' pipeline JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        texts: model_dir::TextArgs,
    },
    /// Sentence embeddings (mean pooling over the attention mask, as sentence-transformers does).
    #[command(
        after_help = "Example:\n  bert-wgpu embed --model models/all-MiniLM-L6-v2 --normalize --similarity \"A cat.\" \"A dog.\""
    )]
    Embed {
        #[command(flatten)]
        model: model_dir::ModelArg,
        #[arg(long, value_enum, default_value_t = PoolingArg::Mean)]
        pooling: PoolingArg,
        /// L2-normalise each vector.
        #[arg(long)]
        normalize: bool,
        /// Print the cosine similarity matrix of the texts instead of the vectors.
        #[arg(long)]
        similarity: bool,
        /// Print JSON (a list of vectors, or the matrix with --similarity).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        texts: model_dir::TextArgs,
    },
    /// Train a WordPiece vocabulary (vocab.txt + tokenizer.json) on corpus files.
    Vocab(vocab::VocabArgs),
    /// Pretrain BERT (masked LM + next sentence prediction) on raw text, as the original recipe.
    Pretrain(Box<pretrain::PretrainArgs>),
    /// Fine-tune a task head (sequence / pair / token classification, extractive QA) on labelled data.
    Finetune(Box<finetune::FinetuneArgs>),
    /// Run a fine-tuned model: labels, entities or answers, as transformers' pipelines print them.
    Predict(Box<predict::PredictArgs>),
    /// Score a fine-tuned model on labelled data (accuracy / F1, entity F1, exact match / F1).
    Eval(predict::EvalArgs),
    /// Fetch a model from the Hugging Face hub into the cache that transformers shares (as `hf download`), so
    /// that later runs work offline; prints the snapshot directory.
    #[command(after_help = "Examples:\n  bert-wgpu download bert-base-uncased\n  \
                      bert-wgpu download google/bert_uncased_L-2_H-128_A-2 --revision main\n  \
                      HF_ENDPOINT=https://hf-mirror.example bert-wgpu download org/name")]
    Download {
        /// A hub id: `name` or `org/name`.
        #[arg(value_name = "ID")]
        id: String,
        /// A branch, tag or commit hash.
        #[arg(long, default_value = bert_wgpu::io::hub::DEFAULT_REVISION)]
        revision: String,
    },
    /// The GPU adapter in use: name, backend, device type, features and limits.
    Info,
    /// Every matmul candidate's GFLOP/s on BERT-base's shapes (auto's pick marked), BERT-base forward and
    /// training-step throughput (tokens/s) with random weights, auto against the previous default kernel.
    Bench {
        /// Timed repetitions per measurement.
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Skip the BERT-base forward (matmuls only).
        #[arg(long)]
        quick: bool,
        /// Time every dispatch of one training step (--preset, BERT-mini by default) on its own and print where the
        /// time goes.
        #[arg(long)]
        profile: bool,
        /// Only the matmul candidates on one training step's shapes (--preset, BERT-mini by default) and that step,
        /// with the default kernel before tuning and with auto.
        #[arg(long)]
        training: bool,
        /// The model of --profile and --training: a preset (tiny, mini, small, medium, base).
        #[arg(long, default_value = "mini")]
        preset: String,
        /// Vocabulary size of that model.
        #[arg(long, default_value_t = 30522)]
        vocab_size: usize,
        /// Sequences per training step of --profile and --training.
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        /// Tokens per sequence of --profile and --training (masked: 15% of them).
        #[arg(long, default_value_t = 128)]
        seq_len: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolingArg {
    Mean,
    Cls,
}

/// Writes to standard output and flushes at once, so that a write error is seen where it happens.
pub fn write_stdout(text: std::fmt::Arguments) -> bert_wgpu::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(text)
        .and_then(|()| stdout.flush())
        .map_err(|e| bert_wgpu::Error::new(format!("standard output: {e}")))
}

/// Runs the command line and returns the process exit code; errors are one line on stderr.
pub fn run() -> i32 {
    let cli = Cli::parse();
    if let Some(k) = &cli.kernels {
        // Read by Gpu::new, wherever a command opens the device.
        std::env::set_var("BERT_WGPU_KERNELS", k);
    }
    let result = pollster::block_on(async {
        match cli.command {
            Command::FillMask {
                model,
                top_k,
                json,
                texts,
            } => commands::fill_mask(&model, top_k, json, texts).await,
            Command::Embed {
                model,
                pooling,
                normalize,
                similarity,
                json,
                texts,
            } => {
                let pooling = match pooling {
                    PoolingArg::Mean => bert_wgpu::Pooling::Mean,
                    PoolingArg::Cls => bert_wgpu::Pooling::Cls,
                };
                commands::embed(&model, pooling, normalize, similarity, json, texts).await
            }
            Command::Info => commands::info().await,
            Command::Download { id, revision } => hub::download(&id, &revision),
            Command::Vocab(args) => vocab::run(&args),
            Command::Pretrain(args) => pretrain::run(*args).await,
            Command::Finetune(args) => finetune::run(*args).await,
            Command::Predict(args) => predict::predict(*args).await,
            Command::Eval(args) => predict::eval(args).await,
            Command::Bench {
                reps,
                quick,
                profile,
                training,
                preset,
                vocab_size,
                batch_size,
                seq_len,
            } => {
                let step = bench::StepShape::new(&preset, vocab_size, batch_size, seq_len)?;
                bench::run(reps.max(1), quick, profile, training, step).await
            }
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(e.kind)
        }
    }
}

/// The exit status of a failed command, from the kind of its error (2 is clap's, for bad usage).
pub fn exit_code(kind: bert_wgpu::ErrorKind) -> i32 {
    use bert_wgpu::ErrorKind::*;
    match kind {
        Input => 1,
        BadFile => 3,
        Limits => 4,
        Gpu => 5,
        NoAdapter => 6,
    }
}
