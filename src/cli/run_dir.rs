//! The output directory of a training run (pretraining and fine-tuning): its creation rules, the
//! `checkpoint-<step>` directories in it, and the metrics log that continues across `--resume`.

use std::path::{Path, PathBuf};

use bert_wgpu::model::BertConfig;
use bert_wgpu::train::optimizer::OptimizerConfig;
use bert_wgpu::{Error, Result};

use super::model_dir::{read_model_dir, write_atomic};
use bert_wgpu::error::Context;

/// The optimizer flags of a command line (`--lr`, `--weight-decay`, fine-tuning's `--clip`, 0 for none),
/// checked against their domains before the output directory is touched; the error names the flag.
pub fn check_optimizer_flags(lr: f64, weight_decay: f64, clip: Option<f64>) -> Result<()> {
    OptimizerConfig::check_options(lr, weight_decay, clip, |field| match field {
        "max_grad_norm" => "--clip".into(),
        field => flag(field),
    })
}

/// A flag as the user types it: `seq_len` is `--seq-len`.
pub fn flag(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
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

/// Checks `out` for a run: a non-empty directory needs `overwrite` or `resume` (whose checkpoint
/// [`checkpoint_to_resume`] finds). Nothing is removed here: an overwritten run's old content goes in
/// [`open_log`], once everything else has been checked. The run's lock file does not count as content.
pub fn prepare(out: &Path, overwrite: bool, resume: bool) -> Result<()> {
    if !content(out).is_empty() && !overwrite && !resume {
        return Err(Error::new(format!(
            "{}: exists and is not empty (use --overwrite or --resume)",
            out.display()
        )));
    }
    Ok(())
}

/// What `out` holds besides the run's lock file.
fn content(out: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(out)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name() != LOCK_FILE)
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Empties `out` for `--overwrite`, keeping the lock file.
fn remove_content(out: &Path) -> Result<()> {
    for path in content(out) {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.context(path.display())?;
    }
    Ok(())
}

/// The checkpoint `--resume` continues from: the newest `checkpoint-<step>` whose files all read back
/// (config.json, model.safetensors, trainer_state.json and optimizer.safetensors, parsed on the host). A
/// newer one that does not (a damaged disk, a file edited by hand) is named on stderr and passed over for
/// the next older one; when none is intact, the error names the newest one's fault.
pub fn checkpoint_to_resume(out: &Path) -> Result<(u64, PathBuf)> {
    let found: Vec<(u64, PathBuf)> = checkpoints(out)
        .into_iter()
        .rev()
        .filter(|(_, p)| p.join("trainer_state.json").exists())
        .collect();
    // The faults of the damaged checkpoints passed over, newest first.
    let mut faults = Vec::new();
    for (step, dir) in found {
        match check_checkpoint(&dir) {
            Ok(()) => {
                for fault in &faults {
                    eprintln!("warning: {fault}; resuming from the older checkpoint-{step} instead");
                }
                return Ok((step, dir));
            }
            Err(e) => faults.push(format!("{}: {e}", dir.display())),
        }
    }
    for fault in faults.iter().skip(1) {
        eprintln!("warning: {fault}");
    }
    Err(Error::new(match faults.first() {
        Some(fault) => format!(
            "--resume: no intact checkpoint in {}; the newest: {fault}",
            out.display()
        ),
        None => format!(
            "--resume: no checkpoint-<step> with trainer_state.json in {}",
            out.display()
        ),
    }))
}

/// Reads every file of a checkpoint and parses it on the host; the error names the file.
fn check_checkpoint(dir: &Path) -> Result<()> {
    let read = |name: &str| std::fs::read(dir.join(name)).context(name);
    BertConfig::from_json(&read("config.json")?).map_err(|e| Error::new(format!("config.json: {e}")))?;
    read_model_dir(dir)?.tokenizer()?;
    for name in ["model.safetensors", "optimizer.safetensors"] {
        bert_wgpu::io::load(&read(name)?, name)?;
    }
    let state: serde_json::Value = serde_json::from_slice(&read("trainer_state.json")?)
        .map_err(|e| Error::new(format!("trainer_state.json: {e}")))?;
    if !state["step"].is_u64() {
        return Err(Error::new("trainer_state.json: no step count"));
    }
    Ok(())
}

/// The lock file of a run's output directory (see [`lock`]).
pub const LOCK_FILE: &str = ".bert-wgpu.lock";

/// A held lock on an output directory; dropping it removes the file, then releases the lock.
pub struct RunLock {
    file: std::fs::File,
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked: a run that opened this file meanwhile sees, once it has the lock,
        // that the path no longer leads to it, and starts over with a new file (see `lock`).
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Keeps a second run off `out` while this one uses it: an exclusive lock on `out/.bert-wgpu.lock`,
/// holding this process's id (`out` must exist). The operating system releases the lock when a process
/// ends, however it ends, so a file left by a killed run is taken over, never an obstacle.
pub fn lock(out: &Path) -> Result<RunLock> {
    let path = out.join(LOCK_FILE);
    let err = |e: std::io::Error| Error::new(format!("{}: {e}", path.display()));
    let mut file = loop {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) if same_file(&file, &path) => break file,
            Ok(()) => continue, // its holder removed it before unlocking: take the new one
            Err(e) => return Err(in_use(out, &path, e)),
        }
    };
    use std::io::{Seek, Write};
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(err)?;
    Ok(RunLock { file, path })
}

/// Whether `path` still leads to the open `file`.
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// The error for a lock that another process holds (or that cannot be taken).
fn in_use(out: &Path, path: &Path, e: std::fs::TryLockError) -> Error {
    match e {
        std::fs::TryLockError::WouldBlock => {
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            let holder = holder.trim();
            Error::new(format!(
                "{}: in use by another run{} (lock file {LOCK_FILE}); wait for it to end or stop it",
                out.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder})")
                }
            ))
        }
        std::fs::TryLockError::Error(e) => Error::new(format!("{}: {e}", path.display())),
    }
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

/// Runs a training command on `out` under its lock (see [`lock`]), creating `out` (and its missing
/// parents) first. When it fails before its first checkpoint, what it created is removed (and an `out`
/// that was empty is left empty), so that nothing blocks running the same command again.
pub async fn locked_run(out: &Path, run: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let created = out
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .last();
    let created = created.map(Path::to_path_buf);
    std::fs::create_dir_all(out).context(out.display())?;
    let was_empty = content(out).is_empty();
    let lock = lock(out)?;
    let result = run.await;
    if result.is_err() && was_empty && checkpoints(out).is_empty() {
        // Under the lock, so that no run that starts meanwhile loses its directory.
        match &created {
            Some(root) => {
                let _ = std::fs::remove_dir_all(root);
            }
            None => {
                let _ = remove_content(out);
            }
        }
    }
    drop(lock);
    result
}

/// What a failed step leaves: the newest checkpoint, or that none was saved yet.
pub fn what_is_kept(out: &Path) -> String {
    match latest_checkpoint(out) {
        Some((step, _)) => format!("checkpoint-{step} in {} is kept", out.display()),
        None => "no checkpoint had been saved yet".to_string(),
    }
}

/// Starts the run's record in `out`, the last step before training: with `overwrite` the directory's old
/// content is removed first. Opens `out/metrics.jsonl` for appending; on resume from step `resumed`, lines
/// past that step (an interrupted run's) are dropped first. Returns the file and the JSON lines it keeps.
pub fn open_log(out: &Path, overwrite: bool, resumed: Option<u64>) -> Result<(std::fs::File, Vec<serde_json::Value>)> {
    if overwrite {
        remove_content(out)?;
    }
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
        .context(path.display())?;
    Ok((file, kept))
}

/// The end of a run stopped by Ctrl-C after its checkpoint was saved: the bar says so, and the error that
/// makes the command exit non-zero tells how to go on.
pub fn interrupted(bar: &indicatif::ProgressBar, step: u64) -> Error {
    bar.abandon_with_message(format!("interrupted: checkpoint-{step} saved"));
    Error::new(format!("interrupted at step {step}; resume with --resume"))
}
