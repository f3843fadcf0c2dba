//! The output directory of a training run (pretraining and fine-tuning): its creation rules, the
//! `checkpoint-<step>` directories in it, and the metrics log that continues across `--resume`.

use std::path::{Path, PathBuf};

use bert_wgpu::train::optimizer::{OptimizerConfig, Variant};
use bert_wgpu::{Error, Result};

use super::model_dir::write_atomic;

/// The optimizer flags of a command line (`--lr`, `--weight-decay`, fine-tuning's `--clip`, 0 for none),
/// checked against their domains before the output directory is touched; the error names the flag.
pub fn check_optimizer_flags(lr: f64, weight_decay: f64, clip: Option<f64>) -> Result<()> {
    let mut c = OptimizerConfig::new(Variant::Torch, lr, 0, 1);
    c.weight_decay = weight_decay;
    c.max_grad_norm = clip.filter(|&c| c != 0.0).unwrap_or(f64::INFINITY);
    c.check().map_err(|e| {
        let flag = e.0.replacen("max_grad_norm", "clip", 1).replacen('_', "-", 1);
        Error(format!("--{flag}"))
    })
}

/// The newest `checkpoint-<step>` directory in `out` that holds a trainer_state.json.
pub fn latest_checkpoint(out: &Path) -> Option<(u64, PathBuf)> {
    checkpoints(out)
        .into_iter()
        .filter(|(_, p)| p.join("trainer_state.json").exists())
        .max_by_key(|(s, _)| *s)
}

/// Every `checkpoint-<step>` directory in `out`, oldest first.
fn checkpoints(out: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let step = e
                .file_name()
                .to_str()?
                .strip_prefix("checkpoint-")?
                .parse::<u64>()
                .ok()?;
            Some((step, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Checks and prepares `out` for a run: a non-empty directory needs `overwrite` (it is emptied) or
/// `resume` (its newest checkpoint is returned). Nothing is removed when an error is returned.
pub fn prepare(out: &Path, overwrite: bool, resume: bool) -> Result<Option<(u64, PathBuf)>> {
    let found = if resume { latest_checkpoint(out) } else { None };
    if resume && found.is_none() {
        return Err(Error(format!(
            "--resume: no checkpoint-<step> with trainer_state.json in {}",
            out.display()
        )));
    }
    let non_empty = out.read_dir().map(|mut d| d.next().is_some()).unwrap_or(false);
    if non_empty && !overwrite && !resume {
        return Err(Error(format!(
            "{}: exists and is not empty (use --overwrite or --resume)",
            out.display()
        )));
    }
    if non_empty && overwrite {
        std::fs::remove_dir_all(out).map_err(|e| Error(format!("{}: {e}", out.display())))?;
    }
    std::fs::create_dir_all(out).map_err(|e| Error(format!("{}: {e}", out.display())))?;
    Ok(found)
}

/// Removes all but the newest `keep` checkpoints, sparing the one of step `spare` (the best so far). Each is
/// first renamed to `.checkpoint-<step>.old`, so a run killed while deleting never leaves a half-deleted
/// `checkpoint-<step>` for `--resume` to pick; leftovers of such a kill are removed here too.
pub fn prune_checkpoints(out: &Path, keep: usize, spare: Option<u64>) {
    for (step, path) in checkpoints(out).iter().rev().skip(keep) {
        if Some(*step) != spare {
            let old = out.join(format!(".checkpoint-{step}.old"));
            if std::fs::rename(path, &old).is_ok() {
                let _ = std::fs::remove_dir_all(&old);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(out) {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".checkpoint-") && name.ends_with(".old") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Runs a training command on `out`. When it fails, `out` was absent or empty before it and holds no
/// checkpoint now, `out` is removed, so that nothing blocks running the same command again.
pub async fn removed_after_failed_start(out: &Path, run: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let was_absent_or_empty = out.read_dir().map_or(true, |mut d| d.next().is_none());
    let result = run.await;
    if result.is_err() && was_absent_or_empty && checkpoints(out).is_empty() {
        let _ = std::fs::remove_dir_all(out);
    }
    result
}

/// What a failed step leaves: the newest checkpoint, or that none was saved yet.
pub fn what_is_kept(out: &Path) -> String {
    match latest_checkpoint(out) {
        Some((step, _)) => format!("checkpoint-{step} in {} is kept", out.display()),
        None => "no checkpoint had been saved yet".to_string(),
    }
}

/// Opens `out/metrics.jsonl` for appending; on resume from step `resumed`, lines past that step (an
/// interrupted run's) are dropped first. Returns the file and the JSON lines it keeps.
pub fn open_log(out: &Path, resumed: Option<u64>) -> Result<(std::fs::File, Vec<serde_json::Value>)> {
    let path = out.join("metrics.jsonl");
    let mut kept = Vec::new();
    if let (Some(step), Ok(text)) = (resumed, std::fs::read_to_string(&path)) {
        kept = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["step"].as_u64().is_some_and(|s| s <= step))
            .collect();
        let text: String = kept.iter().map(|v| format!("{v}\n")).collect();
        write_atomic(&path, text.as_bytes())?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error(format!("{}: {e}", path.display())))?;
    Ok((file, kept))
}
