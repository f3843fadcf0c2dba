//! Hugging Face model directories as bytes: the caller reads the files (the CLI from disk, the browser
//! from `fetch` or a file picker); nothing here touches the file system.

pub mod hub;
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
    pub fn from_named<N: AsRef<str>>(files: impl IntoIterator<Item = (N, Vec<u8>)>) -> Result<Self> {
        let mut slots: [Option<Vec<u8>>; 6] = Default::default();
        for (name, bytes) in files {
            if let Some(i) = Self::FILE_NAMES.iter().position(|n| *n == name.as_ref()) {
                slots[i] = Some(bytes);
            }
        }
        let [config, weights, tokenizer_json, vocab_txt, tokenizer_config, special_tokens_map] = slots;
        let Some(config) = config else {
            bail!("model directory has no {}", Self::FILE_NAMES[0])
        };
        let Some(weights) = weights else {
            bail!("model directory has no {}", Self::FILE_NAMES[1])
        };
        Ok(ModelFiles {
            config,
            weights,
            tokenizer_json,
            vocab_txt,
            tokenizer_config,
            special_tokens_map,
        })
    }

    /// (file name, bytes) of every file present, in the order of [`Self::FILE_NAMES`].
    pub fn named(&self) -> Vec<(&'static str, &[u8])> {
        let slots = [
            Some(&self.config),
            Some(&self.weights),
            self.tokenizer_json.as_ref(),
            self.vocab_txt.as_ref(),
            self.tokenizer_config.as_ref(),
            self.special_tokens_map.as_ref(),
        ];
        Self::FILE_NAMES
            .into_iter()
            .zip(slots)
            .filter_map(|(name, b)| Some((name, b?.as_slice())))
            .collect()
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
