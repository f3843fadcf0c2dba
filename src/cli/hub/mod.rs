//! Hub ids on the command line: `--model bert-base-uncased` reads the model from the Hugging Face cache
//! that transformers and `huggingface_hub` fill (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`), so a model already used from Python
//! runs with no download. What the cache lacks is downloaded into it (`download`) from `$HF_ENDPOINT` or
//! huggingface.co, unless `HF_HUB_OFFLINE` is set.

mod download;

use std::path::{Path, PathBuf};

use bert_wgpu::io::hub::{check_revision, is_commit_hash, RepoId, DEFAULT_ENDPOINT, WEIGHTS_INDEX};
use bert_wgpu::io::ModelFiles;
use bert_wgpu::{Error, Result};

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
fn hf_home() -> PathBuf {
    env_path("HF_HOME").unwrap_or_else(|| {
        let cache = env_path("XDG_CACHE_HOME").unwrap_or_else(|| env_path("HOME").unwrap_or_default().join(".cache"));
        cache.join("huggingface")
    })
}

/// The hub cache directory, as `huggingface_hub` finds it.
pub fn cache_dir() -> PathBuf {
    env_path("HF_HUB_CACHE").unwrap_or_else(|| hf_home().join("hub"))
}

/// The hub's address: `$HF_ENDPOINT`, else huggingface.co.
fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .map_or(DEFAULT_ENDPOINT.to_string(), |e| {
            e.trim().trim_end_matches('/').to_string()
        })
}

/// Where `hf auth login` keeps the token: `$HF_TOKEN_PATH`, else `$HF_HOME/token`.
fn token_path() -> PathBuf {
    env_path("HF_TOKEN_PATH").unwrap_or_else(|| hf_home().join("token"))
}

/// The access token for private and gated models: `$HF_TOKEN`, else the token file.
fn token() -> Option<String> {
    let from_env = std::env::var("HF_TOKEN").ok();
    let from_file = || std::fs::read_to_string(token_path()).ok();
    from_env
        .or_else(from_file)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The snapshot of `id` at `revision`: from the cache when it holds the whole model, else downloaded
/// into the cache (never with `HF_HUB_OFFLINE`). When the download fails, a cached snapshot that has the
/// config, weights and a tokenizer still serves, with a warning.
pub fn model_snapshot(id: &RepoId, revision: &str) -> Result<PathBuf> {
    let cache = cache_dir();
    let cached = snapshot_dir(&cache, id, revision);
    if offline() {
        return cached;
    }
    check_revision(revision)?;
    if let Ok(snapshot) = &cached {
        if has_model(snapshot) && marks_the_rest(&cache, id, snapshot) {
            return cached;
        }
    }
    download::Download::new(&cache, id)
        .model(revision)
        .or_else(|e| match cached {
            Ok(snapshot) if has_model(&snapshot) => {
                eprintln!("warning: {e}; using the cached snapshot {}", snapshot.display());
                Ok(snapshot)
            }
            _ => Err(e),
        })
}

/// `bert-wgpu download ID`: the model in the cache (fetched where missing), its snapshot printed.
pub fn download(id: &str, revision: &str) -> Result<()> {
    let id = RepoId::parse(id)?;
    let snapshot = model_snapshot(&id, revision)?;
    outln!("{}", snapshot.display());
    Ok(())
}

/// Whether a snapshot has a config, weights (or their index) and a tokenizer.
fn has_model(snapshot: &Path) -> bool {
    let has = |name: &str| snapshot.join(name).is_file();
    let [config, weights, tokenizer_json, vocab_txt, ..] = ModelFiles::FILE_NAMES;
    has(config) && (has(weights) || has(WEIGHTS_INDEX)) && (has(tokenizer_json) || has(vocab_txt))
}

/// Whether each optional tokenizer file of a snapshot is there or marked as absent from the repository
/// (`.no_exist/{commit}/{file}`), so that nothing is left to ask the hub.
fn marks_the_rest(cache: &Path, id: &RepoId, snapshot: &Path) -> bool {
    let commit = snapshot.file_name().unwrap_or_default();
    let no_exist = cache.join(id.cache_folder()).join(".no_exist").join(commit);
    ModelFiles::FILE_NAMES[4..]
        .iter()
        .all(|name| snapshot.join(name).is_file() || no_exist.join(name).exists())
}

/// Whether `HF_HUB_OFFLINE` forbids the network (`1`, `true`, `yes`, `on`, as `huggingface_hub` reads it).
fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| ["1", "true", "yes", "on"].contains(&v.trim().to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// The snapshot directory of `id` at `revision` in the cache: `refs/{revision}` names the commit (a full
/// commit hash names it directly).
fn snapshot_dir(cache: &Path, id: &RepoId, revision: &str) -> Result<PathBuf> {
    check_revision(revision)?;
    let repo = cache.join(id.cache_folder());
    let not_cached = |what: String| {
        let how = if offline() {
            "HF_HUB_OFFLINE is set, so nothing is downloaded".to_string()
        } else {
            "unset HF_HUB_OFFLINE to download it".to_string()
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
