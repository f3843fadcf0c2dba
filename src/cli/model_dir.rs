//! Reading a Hugging Face model (a directory, or a hub id through the cache) and text inputs from disk.

use std::path::{Path, PathBuf};

use bert_wgpu::error::Context;
use bert_wgpu::io::hub::{self, RepoId};
use bert_wgpu::io::{safetensors, ModelFiles};
use bert_wgpu::{Error, Result};

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).context(path.display())
}

/// A file that may be absent; a link to nothing (a cache blob that is gone) is an error, not an absence.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    if path.exists() {
        read(path).map(Some)
    } else if let Ok(target) = std::fs::read_link(path) {
        Err(Error::new(format!(
            "{}: a broken link (its target {} is missing); download the model again",
            path.display(),
            target.display()
        )))
    } else {
        Ok(None)
    }
}

/// `--model DIR|ID` and `--revision`.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArg {
    /// A Hugging Face model directory (config.json, model.safetensors, tokenizer.json or vocab.txt), or a
    /// hub id (`bert-base-uncased`, `org/name`) read from the Hugging Face cache.
    #[arg(long, value_name = "DIR|ID")]
    pub model: std::path::PathBuf,
    /// With a hub id: the branch, tag or commit hash.
    #[arg(long, default_value = hub::DEFAULT_REVISION)]
    pub revision: String,
}

impl ModelArg {
    pub fn read(&self) -> Result<ModelFiles> {
        read_model(&self.model, &self.revision)
    }

    /// How errors name the model.
    pub fn display(&self) -> std::path::Display<'_> {
        self.model.display()
    }
}

/// `--model`: a model directory, or else a hub id (`name` or `org/name`) read from the Hugging Face cache
/// at `revision`, downloaded into it first where the cache lacks it.
pub fn read_model(model: &Path, revision: &str) -> Result<ModelFiles> {
    if model.is_dir() {
        return read_model_dir(model);
    }
    let spec = model.to_string_lossy();
    let id = match RepoId::parse(&spec) {
        Ok(id) if !model.exists() => id,
        _ => return Err(Error::new(format!("{spec}: not a model directory"))),
    };
    let snapshot = super::hub::model_snapshot(&id, revision)?;
    read_model_dir(&snapshot).map_err(|e| Error::new(format!("model {id} (revision {revision}): {e}")))
}

/// The bytes of config.json, model.safetensors (or the shards its index names, joined) and the tokenizer
/// files of `dir`.
pub fn read_model_dir(dir: &Path) -> Result<ModelFiles> {
    if !dir.is_dir() {
        return Err(Error::new(format!("{}: not a model directory", dir.display())));
    }
    let mut named = Vec::new();
    for name in ModelFiles::FILE_NAMES {
        if let Some(bytes) = read_optional(&dir.join(name))? {
            named.push((name, bytes));
        }
    }
    let has_weights = named.iter().any(|(n, _)| *n == ModelFiles::FILE_NAMES[1]);
    if !has_weights {
        if let Some(index) = read_optional(&dir.join(hub::WEIGHTS_INDEX))? {
            named.push((ModelFiles::FILE_NAMES[1], read_shards(dir, &index)?));
        }
    }
    let files = ModelFiles::from_named(named).context(dir.display())?;
    if files.tokenizer_json.is_none() && files.vocab_txt.is_none() {
        return Err(Error::new(format!("{}: no tokenizer.json or vocab.txt", dir.display())));
    }
    Ok(files)
}

/// The shards a `model.safetensors.index.json` names, joined into one safetensors file.
fn read_shards(dir: &Path, index: &[u8]) -> Result<Vec<u8>> {
    let index_path = dir.join(hub::WEIGHTS_INDEX);
    let files = hub::shard_files(index).context(index_path.display())?;
    let mut shards = Vec::with_capacity(files.len());
    for file in &files {
        let path = dir.join(file);
        match read_optional(&path)? {
            Some(bytes) => shards.push((file.as_str(), bytes)),
            None => {
                return Err(Error::new(format!(
                    "{}: names the shard {file}, which is missing",
                    index_path.display()
                )))
            }
        }
    }
    let refs: Vec<(&str, &[u8])> = shards.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    safetensors::merge(&refs).context(dir.display())
}

/// The texts of `fill-mask` and `embed` and how many run at once.
#[derive(clap::Args)]
pub struct TextArgs {
    /// Read texts from a file, one per line.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Texts per GPU batch.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// The texts (fill-mask: each containing [MASK]).
    pub texts: Vec<String>,
}

/// Texts from the command line, then one per line from `--input` (blank lines skipped).
pub fn gather_texts(args: TextArgs) -> Result<Vec<String>> {
    let mut all = args.texts;
    if let Some(path) = &args.input {
        let bytes = read(path)?;
        let text =
            String::from_utf8(bytes).map_err(|e| Error::new(format!("{}: not UTF-8 text: {e}", path.display())))?;
        all.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    if all.is_empty() {
        return Err(Error::new("no text given (pass texts as arguments or --input FILE)"));
    }
    if let Some(i) = all.iter().position(|t| t.trim().is_empty()) {
        return Err(Error::new(format!("text {} is empty", i + 1)));
    }
    Ok(all)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::new(format!("{}: {e}", path.display()))
    })
}

/// Writes a model directory atomically: every file into `<dir>.tmp`, then that directory renamed to `dir`
/// (an existing `dir` is replaced only once the new one is complete).
pub fn write_model_dir(dir: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    let err = |p: &Path, e: std::io::Error| Error::new(format!("{}: {e}", p.display()));
    let tmp = dir.with_file_name(format!(
        ".{}.tmp",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("model")
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
    for (name, bytes) in files {
        let path = tmp.join(name);
        let result = std::fs::File::create(&path).and_then(|mut f| {
            use std::io::Write;
            f.write_all(bytes)?;
            f.sync_all()
        });
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(err(&path, e));
        }
    }
    if dir.exists() {
        let old = dir.with_file_name(format!(
            ".{}.old",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("model")
        ));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| err(dir, e))?;
        std::fs::rename(&tmp, dir).map_err(|e| err(dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| err(dir, e))?;
    }
    Ok(())
}
