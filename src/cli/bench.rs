//! `bert-wgpu bench`: matmul GFLOP/s and BERT-base forward throughput on the adapter in use.
//! Figures are printed, never asserted.

use std::rc::Rc;
use std::time::Instant;

use bert_wgpu::gpu::{Gpu, Recorder};
use bert_wgpu::io::ModelFiles;
use bert_wgpu::model::{weights, Batch, Bert, BertConfig, Weights};
use bert_wgpu::ops::{matmul, Act};
use bert_wgpu::rng::Rng;
use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::train::data::PretrainBatch;
use bert_wgpu::train::optimizer::{OptimizerConfig, Variant};
use bert_wgpu::train::pretrain::Pretrainer;
use bert_wgpu::Result;

/// Seconds per call of `f`, best of `reps` after one warm-up call (which also builds the pipelines).
async fn time<F, Fut>(reps: usize, mut f: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    f().await?;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f().await?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

async fn bench_matmul(gpu: &Gpu, reps: usize, m: usize, n: usize, k: usize, label: &str) -> Result<f64> {
    let mut rng = Rng::new(1);
    let mut random = |len: usize| (0..len).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
    let x = gpu.upload(&random(m * k), &[m, k], "x")?;
    let w = gpu.upload(&random(n * k), &[n, k], "w")?;
    let y = gpu.zeros(&[m, n], "y")?;
    let secs = time(reps, || async {
        let mut rec = Recorder::new(gpu);
        matmul::linear(&mut rec, &x, &w, None, Act::None, &y);
        rec.submit_and_read(&[(&y.buf, 0, 1)]).await.map(|_| ())
    })
    .await?;
    let gflops = 2.0 * (m * n * k) as f64 / secs / 1e9;
    println!(
        "  {label:<28} {m:>5} x {n:>5} x {k:>5}  {:>8.2} ms  {gflops:>7.2} GFLOP/s",
        secs * 1e3
    );
    Ok(gflops)
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

async fn bench_forward(bert: &Bert, reps: usize, batch: usize, seq: usize) -> Result<()> {
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
        let ws = bert.record_forward(&mut rec, b)?;
        let t = Instant::now();
        rec.submit_and_read(&[(&ws.pooled.buf, 0, 1)]).await?;
        Ok::<f64, bert_wgpu::Error>(t.elapsed().as_secs_f64())
    };
    run(false).await?;
    run(true).await?;
    let (mut total, mut matmuls) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        total = total.min(run(false).await?);
        matmuls = matmuls.min(run(true).await?);
    }
    let tokens = (batch * seq) as f64;
    let outside = (1.0 - matmuls / total).max(0.0) * 100.0;
    println!(
        "  batch {batch:>2} x seq {seq}: {:>9.1} ms  {:>8.1} tokens/s  {outside:>5.1}% of the time outside matmuls",
        total * 1e3,
        tokens / total
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

/// A synthetic pretraining batch: random tokens, `rows_per_seq` masked positions per sequence.
fn synthetic_batch(vocab: usize, batch: usize, seq: usize, rows_per_seq: usize) -> PretrainBatch {
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
    let mlm_rows: Vec<u32> = (0..batch)
        .flat_map(|i| (0..rows_per_seq).map(move |r| (i * seq + 1 + r * 5) as u32))
        .collect();
    PretrainBatch {
        mlm_labels: mlm_rows.iter().map(|&r| b.ids[r as usize]).collect(),
        mlm_rows,
        nsp_labels: (0..batch as u32).map(|i| i % 2).collect(),
        mask_kinds: Vec::new(),
        batch: b,
    }
}

/// Tokens/s of a full training step (forward, backward, AdamW) for a preset, against what the measured
/// matmul rate alone would allow, and the runtime's peak allocation.
async fn bench_train(
    gpu: &Rc<Gpu>,
    name: &str,
    layers: usize,
    hidden: usize,
    reps: usize,
    matmul_gflops: f64,
) -> Result<()> {
    let (batch, seq, rows) = (8, 128, 20);
    let config = BertConfig::new(30522, hidden, layers, hidden / 64, 4 * hidden);
    let before = gpu.allocated_bytes().0;
    let weights = Weights::from_host(gpu, &config, weights::init_host(&config, 0), "random weights")?;
    let (tokenizer, tokenizer_files) = bench_tokenizer()?;
    let bert = Bert::from_parts(gpu.clone(), config.clone(), weights, tokenizer, tokenizer_files);
    let mut trainer = Pretrainer::new(
        bert,
        OptimizerConfig::new(Variant::Torch, 1e-4, 10, 1000),
        batch,
        seq,
        rows,
        1,
    )?;
    let b = synthetic_batch(config.vocab_size, batch, seq, rows);
    trainer.step(&b, true).await?; // builds the pipelines
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        trainer.step(&b, true).await?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let peak = gpu.allocated_bytes().1.saturating_sub(before);
    let tokens = (batch * seq) as f64;
    let flops = 3.0 * forward_flops(&config, batch, seq, batch * rows);
    let ideal = tokens / (flops / (matmul_gflops * 1e9));
    println!(
        "  {name:<6} {:>9.1} ms/step {:>9.1} tokens/s  {:>5.1}% of the {ideal:.0} tokens/s that {matmul_gflops:.1} GFLOP/s allows  peak {:.0} MiB",
        best * 1e3,
        tokens / best,
        100.0 * (tokens / best) / ideal,
        peak as f64 / (1 << 20) as f64
    );
    Ok(())
}

pub async fn run(reps: usize, quick: bool) -> Result<()> {
    let gpu = Rc::new(Gpu::new().await?);
    println!(
        "adapter: {} ({:?}, {:?}); matmul variant: {}",
        gpu.info.name,
        gpu.info.backend,
        gpu.info.device_type,
        if gpu.subgroup_matmul { "subgroup" } else { "portable" }
    );
    println!("matmul (Y = X.W^T, f32), best of {reps}:");
    let square = bench_matmul(&gpu, reps, 1024, 1024, 1024, "square").await?;
    let t = 8 * 128;
    let _ = bench_matmul(&gpu, reps, t, 3 * 768, 768, "BERT-base QKV projection").await?;
    let _ = bench_matmul(&gpu, reps, t, 768, 768, "BERT-base attention output").await?;
    let _ = bench_matmul(&gpu, reps, t, 3072, 768, "BERT-base FFN up").await?;
    let _ = bench_matmul(&gpu, reps, t, 768, 3072, "BERT-base FFN down").await?;
    if quick {
        return Ok(());
    }
    let config = BertConfig::new(30522, 768, 12, 12, 3072);
    let weights = Weights::from_host(&gpu, &config, weights::init_host(&config, 0), "random BERT-base")?;
    let (tokenizer, tokenizer_files) = bench_tokenizer()?;
    let bert = Bert::from_parts(gpu.clone(), config, weights, tokenizer, tokenizer_files);
    println!("BERT-base forward (random weights, encoder + pooler), best of {reps}:");
    bench_forward(&bert, reps, 1, 128).await?;
    bench_forward(&bert, reps, 8, 128).await?;
    drop(bert);
    println!("training step (forward, backward, AdamW; batch 8 x seq 128, 20 masked per sequence), best of {reps}:");
    bench_train(&gpu, "mini", 4, 256, reps, square).await?;
    bench_train(&gpu, "base", 12, 768, reps, square).await?;
    Ok(())
}
