//! Reading a Hugging Face model directory and text inputs from disk.

use std::path::Path;

use bert_wgpu::io::ModelFiles;
use bert_wgpu::{Error, Result};

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error(format!("{}: {e}", path.display())))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The bytes of config.json, model.safetensors and the tokenizer files of `dir`.
pub fn read_model_dir(dir: &Path) -> Result<ModelFiles> {
    if !dir.is_dir() {
        return Err(Error(format!("{}: not a model directory", dir.display())));
    }
    let files = ModelFiles {
        config: read(&dir.join("config.json"))?,
        weights: read(&dir.join("model.safetensors"))?,
        tokenizer_json: read_optional(&dir.join("tokenizer.json"))?,
        vocab_txt: read_optional(&dir.join("vocab.txt"))?,
        tokenizer_config: read_optional(&dir.join("tokenizer_config.json"))?,
        special_tokens_map: read_optional(&dir.join("special_tokens_map.json"))?,
    };
    if files.tokenizer_json.is_none() && files.vocab_txt.is_none() {
        return Err(Error(format!("{}: no tokenizer.json or vocab.txt", dir.display())));
    }
    Ok(files)
}

/// Texts from the command line, or one per line from `--input` (blank lines skipped).
pub fn gather_texts(input: Option<&Path>, texts: Vec<String>) -> Result<Vec<String>> {
    let mut all = texts;
    if let Some(path) = input {
        let bytes = read(path)?;
        let text = String::from_utf8(bytes).map_err(|e| Error(format!("{}: not UTF-8 text: {e}", path.display())))?;
        all.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    if all.is_empty() {
        return Err(Error("no text given (pass texts as arguments or --input FILE)".into()));
    }
    if let Some(i) = all.iter().position(|t| t.trim().is_empty()) {
        return Err(Error(format!("text {} is empty", i + 1)));
    }
    Ok(all)
}
