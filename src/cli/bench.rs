//! `bert-wgpu bench`: every matmul candidate's GFLOP/s on BERT-base's shapes, BERT-base forward and
//! training-step throughput on the adapter in use.
//! Figures are printed, never asserted.

use std::rc::Rc;
use std::time::Instant;

use bert_wgpu::gpu::{Gpu, Recorder};
use bert_wgpu::io::ModelFiles;
use bert_wgpu::model::{weights, AttentionMode, Batch, Bert, BertConfig, Weights};
use bert_wgpu::ops::tune::{self, MatmulShape};
use bert_wgpu::rng::Rng;
use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::train::data::PretrainBatch;
use bert_wgpu::train::optimizer::{AdamVariant, OptimizerConfig};
use bert_wgpu::train::pretrain::Pretrainer;
use bert_wgpu::{Error, Result};

use super::tuning;

/// Every candidate's GFLOP/s on every shape, then auto's, with auto's pick marked (`ops::tune::rates`).
/// Returns the best GFLOP/s any candidate reached.
async fn bench_matmuls(gpu: &Gpu, reps: usize, shapes: &[MatmulShape]) -> Result<f64> {
    let rows = tune::rates(gpu, &gpu.candidates(), shapes, reps, &mut |_, _, _| {}).await?;
    for line in tune::rates_table(&rows) {
        outln!("{line}");
    }
    Ok(rows
        .iter()
        .flat_map(|r| r.candidates.iter().map(|c| c.1))
        .fold(0.0, f64::max))
}

/// A tokenizer with BERT's special tokens only: the benchmark feeds token ids directly.
fn bench_tokenizer() -> Result<(BertTokenizer, ModelFiles)> {
    let vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n".to_vec();
    let files = ModelFiles {
        vocab_txt: Some(vocab),
        ..Default::default()
    };
    Ok((files.tokenizer()?, files))
}

/// Tokens/s of a forward with one attention implementation, the share of time outside matmuls and the peak
/// allocation (weights included).
async fn bench_forward(bert: &Bert, reps: usize, batch: usize, seq: usize, mode: AttentionMode) -> Result<()> {
    let mut rng = Rng::new(2);
    let ids: Vec<u32> = (0..batch * seq).map(|_| 5 + (rng.next_u64() % 30000) as u32).collect();
    let b = Batch {
        batch,
        seq,
        types: (0..batch * seq).map(|i| ((i % seq) >= seq / 2) as u32).collect(),
        mask: vec![1.0; batch * seq],
        lengths: vec![seq; batch],
        ids,
    };
    let gpu = &bert.gpu;
    // The whole forward and its matmuls alone, measured alternately so that a busy machine weighs on both.
    let b = &b;
    let run = |matmuls_only: bool| async move {
        let mut rec = if matmuls_only {
            Recorder::matmuls_only(gpu)
        } else {
            Recorder::new(gpu)
        };
        let ws = bert.record_forward_mode(&mut rec, b, mode)?;
        let t = Instant::now();
        rec.submit_and_read(&[(&ws.pooled.buf, 0, 1)]).await?;
        Ok::<f64, bert_wgpu::Error>(t.elapsed().as_secs_f64())
    };
    bert.release_workspace(); // before measuring the peak
    gpu.reset_peak();
    run(false).await?;
    run(true).await?;
    let (mut total, mut matmuls) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        total = total.min(run(false).await?);
        matmuls = matmuls.min(run(true).await?);
    }
    let tokens = (batch * seq) as f64;
    let outside = (1.0 - matmuls / total).max(0.0) * 100.0;
    outln!(
        "  batch {batch:>2} x seq {seq:<3} {:<28} {:>9.1} ms  {:>8.1} tokens/s  {outside:>5.1}% of the time outside matmuls  peak {:.0} MiB",
        format!("{mode:?} attention"),
        total * 1e3,
        tokens / total,
        gpu.allocated_bytes().1 as f64 / (1 << 20) as f64
    );
    Ok(())
}

/// FLOPs of one forward pass: every matmul (2 per multiply-add), the MLM head on `rows` masked positions.
fn forward_flops(c: &BertConfig, batch: usize, seq: usize, rows: usize) -> f64 {
    let (h, i, v, t) = (
        c.hidden_size as f64,
        c.intermediate_size as f64,
        c.vocab_size as f64,
        (batch * seq) as f64,
    );
    let per_layer = 2.0 * t * (3.0 * h * h + h * h + 2.0 * h * i) + 2.0 * 2.0 * t * seq as f64 * h;
    let heads = 2.0 * rows as f64 * (h * h + h * v) + 2.0 * batch as f64 * (h * h + 2.0 * h);
    c.num_hidden_layers as f64 * per_layer + heads
}

/// The model and batch of a benchmarked training step.
pub struct StepShape {
    name: String,
    config: BertConfig,
    /// Sequences per step.
    batch: usize,
    /// Tokens per sequence.
    seq: usize,
    /// Masked positions per sequence (15% of `seq`, rounded up).
    rows: usize,
}

impl StepShape {
    /// A preset by name with `vocab_size` tokens, `batch` sequences of `seq` tokens.
    pub fn new(preset: &str, vocab_size: usize, batch: usize, seq: usize) -> Result<Self> {
        let config = bert_wgpu::train::recipe::preset(preset, vocab_size).ok_or_else(|| {
            Error::new(format!(
                "--preset {preset:?}: not a preset (one of {})",
                bert_wgpu::train::recipe::preset_names()
            ))
        })?;
        if batch == 0 || seq < 8 || seq > config.max_position_embeddings {
            return Err(Error::new(format!(
                "--batch-size {batch} --seq-len {seq}: need at least 1 sequence of 8 to {} tokens",
                config.max_position_embeddings
            )));
        }
        config.validate()?;
        Ok(StepShape {
            name: preset.into(),
            config,
            batch,
            seq,
            rows: (seq * 15).div_ceil(100),
        })
    }
}

/// Tokens/s of a full training step (forward, backward, AdamW) for a preset, against what the measured
/// matmul rate alone would allow, and the runtime's peak allocation.
async fn bench_train(gpu: &Rc<Gpu>, step: &StepShape, reps: usize, matmul_gflops: f64, profile: bool) -> Result<()> {
    let (name, batch, seq, rows) = (&step.name, step.batch, step.seq, step.rows);
    let config = step.config.clone();
    let before = gpu.allocated_bytes().0;
    let weights = Weights::from_host(gpu, &config, weights::init_host(&config, 0), "random weights")?;
    let (tokenizer, tokenizer_files) = bench_tokenizer()?;
    let bert = Bert::from_parts(gpu.clone(), config.clone(), weights, tokenizer, tokenizer_files);
    let mut trainer = Pretrainer::new(
        bert,
        OptimizerConfig::new(AdamVariant::Torch, 1e-4, 10, 1000),
        batch,
        seq,
        rows,
        1,
    )?;
    let b = PretrainBatch::synthetic(config.vocab_size, batch, seq, rows);
    trainer.step(&b, true).await?; // builds the pipelines
    if profile {
        gpu.start_profile();
        trainer.step(&b, true).await?;
        let entries = gpu.take_profile();
        let total: f64 = entries.iter().map(|e| e.1).sum();
        let mut by_label: Vec<(String, usize, f64)> = Vec::new();
        for (label, secs) in entries.iter() {
            match by_label.iter_mut().find(|e| &e.0 == label) {
                Some(e) => {
                    e.1 += 1;
                    e.2 += secs;
                }
                None => by_label.push((label.clone(), 1, *secs)),
            }
        }
        by_label.sort_by(|a, b| b.2.total_cmp(&a.2));
        outln!(
            "  {name}: {} dispatches, {:.1} ms when run one at a time",
            entries.len(),
            total * 1e3
        );
        for (label, count, secs) in by_label.iter().take(40) {
            outln!(
                "    {:>8.2} ms {:>5.1}%  x{count:<4} {label}",
                secs * 1e3,
                100.0 * secs / total
            );
        }
        return Ok(());
    }
    let mut best = f64::INFINITY;
    let mut host = f64::INFINITY;
    let mut stats = gpu.take_submit_stats();
    for _ in 0..reps {
        let t = Instant::now();
        trainer.step(&b, true).await?;
        let wall = t.elapsed().as_secs_f64();
        stats = gpu.take_submit_stats();
        best = best.min(wall);
        host = host.min(wall - stats.waiting_s);
    }
    let peak = gpu.allocated_bytes().1.saturating_sub(before);
    let tokens = (batch * seq) as f64;
    let flops = 3.0 * forward_flops(&config, batch, seq, batch * rows);
    let ideal = tokens / (flops / (matmul_gflops * 1e9));
    let share = if matmul_gflops > 0.0 {
        format!(
            "{:>5.1}% of the {ideal:.0} tokens/s that {matmul_gflops:.1} GFLOP/s allows  ",
            100.0 * (tokens / best) / ideal
        )
    } else {
        String::new()
    };
    outln!(
        "  {name:<6} {:>9.1} ms/step {:>9.1} tokens/s  {share}peak {:.0} MiB; {} dispatches in {} submit(s), host {:.1} ms/step",
        best * 1e3,
        tokens / best,
        peak as f64 / (1 << 20) as f64,
        stats.dispatches,
        stats.submits,
        host * 1e3
    );
    Ok(())
}

/// What `bert-wgpu info` and `bench` print about the matmul plan.
pub fn print_plan(gpu: &Gpu) -> Result<()> {
    let plan = gpu.matmul.borrow();
    match plan.forced {
        Some(k) => outln!("matmul kernel: {} for every shape (--kernels)", k.name),
        None => {
            outln!(
                "matmul kernels: auto ({} shape classes tuned; others use {})",
                plan.chosen.len(),
                plan.default.name
            );
            for (class, k) in &plan.chosen {
                outln!("  {:<36} {}", class.key(), k.name);
            }
        }
    }
    Ok(())
}

pub async fn run(reps: usize, quick: bool, profile: bool, training_only: bool, step: StepShape) -> Result<()> {
    let gpu = Rc::new(Gpu::new().await?);
    outln!(
        "adapter: {} ({:?}, {:?}, driver {} {})",
        gpu.info.name,
        gpu.info.backend,
        gpu.info.device_type,
        gpu.info.driver,
        gpu.info.driver_info
    );
    let base = BertConfig::new(30522, 768, 12, 12, 3072);
    let (batch, seq, rows) = (8, 128, 20);
    let base_shapes = base.matmul_shapes(batch, seq, batch * rows, true);
    let step_shapes = step
        .config
        .matmul_shapes(step.batch, step.seq, step.batch * step.rows, true);
    let all: Vec<MatmulShape> = base_shapes.iter().chain(&step_shapes).cloned().collect();
    let report = tuning::prepare(&gpu, &all).await?;
    if !report.timings.is_empty() {
        outln!(
            "tuned {} shape classes on this adapter (cached for later runs)",
            report.timings.len()
        );
    }
    if profile {
        return bench_train(&gpu, &step, reps, 0.0, true).await;
    }
    if training_only {
        outln!(
            "matmul candidates on {}'s training shapes (batch {} x seq {}, {} masked per sequence), GFLOP/s, best of \
             {reps}; * marks auto's pick, ~ a rate from one run on a cut-down copy:",
            step.name,
            step.batch,
            step.seq,
            step.rows
        );
        let square = bench_matmuls(&gpu, reps, &step_shapes).await?;
        return bench_training(&gpu, None, &step, reps, square).await;
    }
    outln!(
        "matmul candidates on BERT-base's training shapes (batch {batch} x seq {seq}, {rows} masked per sequence), \
         GFLOP/s, best of {reps}; * marks auto's pick, ~ a rate from one run on a cut-down copy (candidates more \
         than twice as slow there):"
    );
    let square = bench_matmuls(&gpu, reps, &base_shapes).await?;
    if quick {
        return Ok(());
    }
    let weights = Weights::from_host(&gpu, &base, weights::init_host(&base, 0), "random BERT-base")?;
    let (tokenizer, tokenizer_files) = bench_tokenizer()?;
    let bert = Bert::from_parts(gpu.clone(), base.clone(), weights, tokenizer, tokenizer_files);
    outln!("BERT-base forward (random weights, encoder + pooler), best of {reps}:");
    bench_forward(&bert, reps, 1, 128, AttentionMode::Auto).await?;
    for (batch, seq) in [(8, 128), (1, 512)] {
        for mode in [AttentionMode::Unfused, AttentionMode::Fused] {
            bench_forward(&bert, reps, batch, seq, mode).await?;
        }
    }
    drop(bert);
    let base_step = StepShape {
        name: "base".into(),
        config: base,
        batch,
        seq,
        rows,
    };
    bench_training(&gpu, Some(&base_step), &step, reps, square).await
}

/// Training steps of `step` (and base when given) with the default kernel before tuning (the subgroup kernel where
/// it runs, else the portable one) and with auto, in one run.
async fn bench_training(
    gpu: &Rc<Gpu>,
    base: Option<&StepShape>,
    step: &StepShape,
    reps: usize,
    square: f64,
) -> Result<()> {
    outln!(
        "training step (forward, backward, AdamW; batch {} x seq {}, {} masked per sequence), best of {reps}:",
        step.batch,
        step.seq,
        step.rows
    );
    let before = gpu.matmul.borrow().default;
    for (label, forced) in [(before.name, Some(before)), ("auto", None)] {
        gpu.matmul.borrow_mut().forced = forced;
        outln!(" kernels: {label}");
        bench_train(gpu, step, reps, square, false).await?;
        if let Some(base) = base {
            bench_train(gpu, base, reps, square, false).await?;
        }
    }
    gpu.matmul.borrow_mut().forced = None;
    Ok(())
}
