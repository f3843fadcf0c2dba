//! fill-mask, embed and info: load, run in padded batches, print.

use std::rc::Rc;

use bert_wgpu::error::Context;
use bert_wgpu::pipelines::{cosine_matrix, fill_mask_json};
use bert_wgpu::{Bert, Gpu, Pooling, Result};

use super::model_dir::{gather_texts, ModelArg, TextArgs};

/// A model for inference, with the matmul kernels tuned for its shapes. With `task_head` it must have one
/// (`predict`, `eval`; the error says so when it has none); without, the MLM head's shapes are tuned too.
pub async fn load(model: &ModelArg, task_head: bool) -> Result<Bert> {
    let files = model.read()?;
    let gpu = Rc::new(Gpu::new().await?);
    let bert = Bert::load(gpu, &files).context(model.display())?;
    bert.gpu.set_limit_hint("--batch-size");
    if task_head {
        bert.task_head().context(model.display())?;
    }
    let seq = bert.config.max_position_embeddings.min(128);
    let masked_rows = if task_head { 0 } else { 16 };
    super::tuning::prepare(&bert.gpu, &bert.config.matmul_shapes(16, seq, masked_rows, false)).await?;
    Ok(bert)
}

/// `texts` in GPU batches of `batch_size`.
fn batches(texts: &[String], batch_size: usize) -> impl Iterator<Item = Vec<&str>> {
    texts
        .chunks(batch_size.max(1))
        .map(|c| c.iter().map(String::as_str).collect())
}

/// The model and the texts (arguments or `--input`), with a warning for each text that will be truncated.
async fn load_with_texts(model: &ModelArg, texts: TextArgs) -> Result<(Bert, Vec<String>)> {
    let texts = gather_texts(texts)?;
    let bert = load(model, false).await?;
    warn_truncation(&bert, &texts)?;
    Ok((bert, texts))
}

/// Warns on stderr about texts longer than the model's max_position_embeddings.
fn warn_truncation(bert: &Bert, texts: &[String]) -> Result<()> {
    let max = bert.config.max_position_embeddings;
    for (i, t) in texts.iter().enumerate() {
        let n = bert.tokenizer.encode(t, None)?.ids.len();
        if n > max {
            eprintln!(
                "warning: text {} has {n} tokens; truncated to max_position_embeddings = {max}",
                i + 1
            );
        }
    }
    Ok(())
}

pub async fn fill_mask(model: &ModelArg, top_k: usize, json: bool, texts: TextArgs) -> Result<()> {
    let batch_size = texts.batch_size;
    let (bert, texts) = load_with_texts(model, texts).await?;
    let mut results = Vec::with_capacity(texts.len());
    for refs in batches(&texts, batch_size) {
        results.extend(bert.fill_mask(&refs, top_k).await?);
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&fill_mask_json(&results)).unwrap());
        return Ok(());
    }
    for (text, masks) in texts.iter().zip(&results) {
        outln!("{text}");
        for (m, preds) in masks.iter().enumerate() {
            if masks.len() > 1 {
                outln!("  [MASK] #{}", m + 1);
            }
            outln!("  {:>8}  {:<16} sequence", "score", "token");
            for p in preds {
                outln!("  {:>8.4}  {:<16} {}", p.score, p.token_str, p.sequence);
            }
        }
        outln!();
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn embed(
    model: &ModelArg,
    pooling: Pooling,
    normalize: bool,
    similarity: bool,
    json: bool,
    texts: TextArgs,
) -> Result<()> {
    let batch_size = texts.batch_size;
    let (bert, texts) = load_with_texts(model, texts).await?;
    let mut vectors = Vec::with_capacity(texts.len());
    for refs in batches(&texts, batch_size) {
        vectors.extend(bert.embed(&refs, pooling, normalize).await?);
    }
    if similarity {
        let m = cosine_matrix(&vectors);
        if json {
            outln!("{}", serde_json::to_string(&m).unwrap());
        } else {
            print_matrix(&texts, &m)?;
        }
    } else if json {
        outln!("{}", serde_json::to_string(&vectors).unwrap());
    } else {
        for (t, v) in texts.iter().zip(&vectors) {
            let head: Vec<String> = v.iter().take(6).map(|x| format!("{x:.4}")).collect();
            outln!("{t}\n  [{}, ...] ({} dims)", head.join(", "), v.len());
        }
    }
    Ok(())
}

fn print_matrix(texts: &[String], m: &[Vec<f32>]) -> Result<()> {
    outln!("cosine similarity");
    for (i, t) in texts.iter().enumerate() {
        outln!("  [{}] {t}", i + 1);
    }
    out!("{:>6}", "");
    for j in 0..texts.len() {
        out!("{:>7}", format!("[{}]", j + 1));
    }
    outln!();
    for (i, row) in m.iter().enumerate() {
        out!("{:>6}", format!("[{}]", i + 1));
        for v in row {
            out!("{v:>7.3}");
        }
        outln!();
    }
    Ok(())
}

pub async fn info() -> Result<()> {
    let gpu = Gpu::new().await?;
    let i = &gpu.info;
    outln!("adapter:      {}", i.name);
    outln!("backend:      {:?}", i.backend);
    outln!("device type:  {:?}", i.device_type);
    outln!("driver:       {} {}", i.driver, i.driver_info);
    outln!(
        "subgroups:    {} (sizes {}..={})",
        gpu.features.contains(wgpu::Features::SUBGROUP),
        i.subgroup_min_size,
        i.subgroup_max_size
    );
    let names: Vec<&str> = gpu.candidates().iter().map(|k| k.name).collect();
    outln!("matmul kernels that run here: {}", names.join(", "));
    super::tuning::load_cached(&gpu);
    super::bench::print_plan(&gpu)?;
    outln!("features:     {:?}", gpu.features);
    let l = &gpu.limits;
    outln!("limits in use:");
    outln!(
        "  max_storage_buffer_binding_size      {}",
        l.max_storage_buffer_binding_size
    );
    outln!("  max_buffer_size                      {}", l.max_buffer_size);
    outln!(
        "  max_storage_buffers_per_shader_stage {}",
        l.max_storage_buffers_per_shader_stage
    );
    outln!(
        "  max_compute_workgroup_storage_size   {}",
        l.max_compute_workgroup_storage_size
    );
    outln!(
        "  max_compute_invocations_per_workgroup {}",
        l.max_compute_invocations_per_workgroup
    );
    outln!(
        "  max_compute_workgroups_per_dimension {}",
        l.max_compute_workgroups_per_dimension
    );
    Ok(())
}
