//! Matmul kernels for the adapter in use: the cached choice when there is one, else tuning (a few seconds
//! with a progress bar) whose result is cached in `matmul-tuning.json` under the user's cache directory
//! (`$BERT_WGPU_CACHE_DIR`, else `$XDG_CACHE_HOME/bert-wgpu`, else `~/.cache/bert-wgpu`).

use std::path::PathBuf;

use bert_wgpu::ops::tune::{self, MatmulShape, TuneReport};
use bert_wgpu::{Gpu, Result};
use indicatif::{ProgressBar, ProgressStyle};

pub fn cache_file() -> Option<PathBuf> {
    let dir = match (
        std::env::var_os("BERT_WGPU_CACHE_DIR"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    ) {
        (Some(d), _, _) => PathBuf::from(d),
        (None, Some(x), _) => PathBuf::from(x).join("bert-wgpu"),
        (None, None, Some(h)) => PathBuf::from(h).join(".cache").join("bert-wgpu"),
        _ => return None,
    };
    Some(dir.join("matmul-tuning.json"))
}

fn read_cache() -> serde_json::Map<String, serde_json::Value> {
    cache_file()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

/// Writes the plan's choices for this adapter into the cache (atomically; a failure only warns).
fn write_cache(gpu: &Gpu) {
    let Some(file) = cache_file() else { return };
    let mut all = read_cache();
    all.insert(tune::cache_key(gpu), serde_json::Value::Object(tune::choices_json(gpu)));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(file.parent().unwrap_or(&file))?;
        let tmp = file.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&all).unwrap_or_default())?;
        std::fs::rename(&tmp, &file)
    };
    if let Err(e) = write() {
        eprintln!("warning: could not cache the matmul choice in {}: {e}", file.display());
    }
}

/// Puts this adapter's cached choices into the plan; returns how many there were.
pub fn load_cached(gpu: &Gpu) -> usize {
    match read_cache().get(&tune::cache_key(gpu)).and_then(|v| v.as_object()) {
        Some(map) => tune::load_choices(gpu, map),
        None => 0,
    }
}

/// Makes sure every class of `shapes` has a kernel: from the cache, else by tuning (then cached). Nothing
/// to do when `--kernels` forces one.
pub async fn prepare(gpu: &Gpu, shapes: &[MatmulShape]) -> Result<TuneReport> {
    if gpu.matmul.borrow().forced.is_some() {
        return Ok(TuneReport::default());
    }
    load_cached(gpu);
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("tuning matmul kernels for this adapter {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let verbose = std::env::var_os("BERT_WGPU_TUNE_VERBOSE").is_some();
    let mut progress = |done: usize, total: usize, what: &str| {
        if verbose {
            eprintln!("{:8.2} s  {done}/{total} {what}", started.elapsed().as_secs_f64());
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(what.to_string());
    };
    let report = tune::tune(gpu, &gpu.candidates(), shapes, tune::TUNE_MAX_FLOPS, 3, &mut progress).await?;
    bar.finish_and_clear();
    for (k, why) in &report.excluded {
        eprintln!("warning: matmul kernel {} excluded on {}: {why}", k.name, gpu.info.name);
    }
    if !report.timings.is_empty() {
        write_cache(gpu);
    }
    Ok(report)
}
