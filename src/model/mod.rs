//! BERT: a loaded model ([`Bert`]: config, weights, tokenizer) and what it runs.
//!
//! - `config`: `BertConfig`, as Hugging Face's config.json; `weights`: the parameters by Hugging Face names.
//! - `batch`: a padded batch of token ids; `workspace`: the activations of one batch shape, and the check
//!   that a model fits the adapter.
//! - `forward`: embeddings, encoder layers, pooler and NSP head, recorded into one submit; `backward`: the
//!   same in reverse.
//! - `heads`: the MLM head on masked rows; `task`: the fine-tuning heads; `save`: writing a directory back.

pub mod backward;
mod batch;
pub mod config;
mod forward;
pub mod heads;
mod save;
pub mod task;
pub mod weights;
mod workspace;

use std::cell::RefCell;
use std::rc::Rc;

pub use batch::Batch;
pub use config::BertConfig;
pub use weights::Weights;
pub use workspace::{
    check_fits, AttentionMode, BackwardBuffers, Dropout, DroppedActs, LayerActs, Workspace, FUSED_ABOVE_BYTES,
};

use crate::error::{Error, ErrorKind, Result};
use crate::gpu::Gpu;
use crate::io::ModelFiles;
use crate::tokenizer::BertTokenizer;

/// A loaded model: config, GPU weights, tokenizer, and the activations of the last batch shape.
pub struct Bert {
    pub gpu: Rc<Gpu>,
    pub config: BertConfig,
    pub weights: Weights,
    pub tokenizer: BertTokenizer,
    /// The tokenizer files as loaded (tokenizer.json, vocab.txt, configs), written back unchanged on save.
    pub tokenizer_files: ModelFiles,
    workspace: RefCell<Option<Rc<Workspace>>>,
}

impl Bert {
    /// Loads a Hugging Face model directory from its bytes.
    pub fn load(gpu: Rc<Gpu>, files: &ModelFiles) -> Result<Bert> {
        let config = BertConfig::from_json(&files.config)?;
        let tokenizer = BertTokenizer::from_files(
            files.tokenizer_json.as_deref(),
            files.vocab_txt.as_deref(),
            files.tokenizer_config.as_deref(),
        )
        .map_err(Error::in_file)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::of(
                ErrorKind::BadFile,
                format!(
                    "tokenizer has {} tokens but config.json vocab_size is {}",
                    tokenizer.vocab_size(),
                    config.vocab_size
                ),
            ));
        }
        let weights = Weights::from_safetensors(&gpu, &config, &files.weights, "model.safetensors")?;
        let tokenizer_files = ModelFiles {
            config: Vec::new(),
            weights: Vec::new(),
            ..files.clone()
        };
        Ok(Bert::from_parts(gpu, config, weights, tokenizer, tokenizer_files))
    }

    /// A model from parts already built (e.g. freshly initialised weights).
    pub fn from_parts(
        gpu: Rc<Gpu>,
        config: BertConfig,
        weights: Weights,
        tokenizer: BertTokenizer,
        tokenizer_files: ModelFiles,
    ) -> Bert {
        Bert {
            gpu,
            config,
            weights,
            tokenizer,
            tokenizer_files,
            workspace: RefCell::new(None),
        }
    }

    /// Frees the cached activations (the next forward allocates what it needs).
    pub fn release_workspace(&self) {
        self.workspace.borrow_mut().take();
    }

    /// The workspace for a batch shape, reusing the last one when the shape is the same.
    pub fn workspace(
        &self,
        batch: usize,
        seq: usize,
        training: bool,
        attention: AttentionMode,
    ) -> Result<Rc<Workspace>> {
        let mut slot = self.workspace.borrow_mut();
        if let Some(ws) = slot.as_ref() {
            if ws.batch == batch && ws.seq == seq && ws.training == training && ws.attention == attention {
                return Ok(ws.clone());
            }
        }
        *slot = None; // release the old activations first
        let ws = Rc::new(Workspace::new(
            &self.gpu,
            &self.config,
            batch,
            seq,
            training,
            attention,
        )?);
        *slot = Some(ws.clone());
        Ok(ws)
    }
}
