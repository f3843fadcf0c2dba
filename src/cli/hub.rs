//! Hub ids on the command line: `--model bert-base-uncased` reads the model from the Hugging Face cache
//! that transformers and `huggingface_hub` fill (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`), so a model already used from Python
//! runs with no download.

use std::path::{Path, PathBuf};

use bert_wgpu::io::hub::{check_revision, is_commit_hash, RepoId};
use bert_wgpu::{Error, Result};

/// The hub cache directory, as `huggingface_hub` finds it.
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("HF_HUB_CACHE") {
        return dir;
    }
    let home = var("HF_HOME").unwrap_or_else(|| {
        let cache = var("XDG_CACHE_HOME").unwrap_or_else(|| var("HOME").unwrap_or_default().join(".cache"));
        cache.join("huggingface")
    });
    home.join("hub")
}

/// Whether `HF_HUB_OFFLINE` forbids the network (`1`, `true`, `yes`, `on`, as `huggingface_hub` reads it).
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| ["1", "true", "yes", "on"].contains(&v.trim().to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// The snapshot directory of `id` at `revision` in the cache: `refs/{revision}` names the commit (a full
/// commit hash names it directly).
pub fn snapshot_dir(cache: &Path, id: &RepoId, revision: &str) -> Result<PathBuf> {
    check_revision(revision)?;
    let repo = cache.join(id.cache_folder());
    let not_cached = |what: String| {
        let how = if offline() {
            "HF_HUB_OFFLINE is set, so nothing is downloaded".to_string()
        } else {
            format!("bert-wgpu reads the cache only: download the model first (`hf download {id}`, or once from transformers)")
        };
        Error::new(format!(
            "model {id}: {what} in the Hugging Face cache {}; {how}",
            cache.display()
        ))
    };
    if !repo.is_dir() {
        return Err(not_cached(format!("not found (no {})", id.cache_folder())));
    }
    let commit = if is_commit_hash(revision) {
        revision.to_string()
    } else {
        let refs = repo.join("refs").join(revision);
        match std::fs::read_to_string(&refs) {
            Ok(text) if is_commit_hash(text.trim()) => text.trim().to_string(),
            Ok(_) => return Err(Error::new(format!("{}: not a commit hash", refs.display()))),
            Err(_) => {
                return Err(not_cached(format!(
                    "revision {revision:?} not found (no refs/{revision})"
                )))
            }
        }
    };
    let snapshot = repo.join("snapshots").join(&commit);
    if !snapshot.is_dir() {
        return Err(not_cached(format!(
            "revision {revision:?} (commit {commit}) has no snapshot"
        )));
    }
    Ok(snapshot)
}
