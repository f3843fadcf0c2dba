//! Hugging Face model directories as bytes: the caller reads the files (the CLI from disk, the browser
//! from `fetch` or a file picker); nothing here touches the file system.

pub mod safetensors;

pub use self::safetensors::{load, load_ints, save, HostTensor, IntTensor, SaveDtype};

use crate::tokenizer::BertTokenizer;
use crate::{bail, Result};

/// The files of a Hugging Face model directory.
#[derive(Debug, Clone, Default)]
pub struct ModelFiles {
    /// config.json
    pub config: Vec<u8>,
    /// model.safetensors
    pub weights: Vec<u8>,
    /// tokenizer.json
    pub tokenizer_json: Option<Vec<u8>>,
    /// vocab.txt
    pub vocab_txt: Option<Vec<u8>>,
    /// tokenizer_config.json
    pub tokenizer_config: Option<Vec<u8>>,
    /// special_tokens_map.json
    pub special_tokens_map: Option<Vec<u8>>,
}

impl ModelFiles {
    /// The file names of a model directory, in the order of the fields.
    pub const FILE_NAMES: [&'static str; 6] = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ];

    /// Collects a model directory from (file name, bytes) pairs; other names are ignored.
    /// config.json and model.safetensors are required.
    pub fn from_named(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Result<Self> {
        let (mut config, mut weights) = (None, None);
        let mut out = ModelFiles::default();
        for (name, bytes) in files {
            match name.as_str() {
                "config.json" => config = Some(bytes),
                "model.safetensors" => weights = Some(bytes),
                "tokenizer.json" => out.tokenizer_json = Some(bytes),
                "vocab.txt" => out.vocab_txt = Some(bytes),
                "tokenizer_config.json" => out.tokenizer_config = Some(bytes),
                "special_tokens_map.json" => out.special_tokens_map = Some(bytes),
                _ => {}
            }
        }
        let Some(config) = config else {
            bail!("model directory has no config.json")
        };
        let Some(weights) = weights else {
            bail!("model directory has no model.safetensors")
        };
        Ok(ModelFiles { config, weights, ..out })
    }

    /// The directory's tokenizer: tokenizer.json, else vocab.txt (see [`BertTokenizer::from_files`]).
    pub fn tokenizer(&self) -> Result<BertTokenizer> {
        BertTokenizer::from_files(
            self.tokenizer_json.as_deref(),
            self.vocab_txt.as_deref(),
            self.tokenizer_config.as_deref(),
        )
    }
}
