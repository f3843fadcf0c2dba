//! bert-wgpu: BERT in WGSL compute shaders, dispatched by one wgpu runtime that runs natively and in the
//! browser (`docs/ARCHITECTURE.md` draws the layers).
//!
//! - `error`: `Error` and its `ErrorKind`; `rng`: the seeded generator of data and initialisation.
//! - `gpu`: the runtime (device, pipelines, tensors, one recorder per submit) and the kernel registry.
//! - `ops`: one module per shader file, forward and backward; the matmul choice per adapter.
//! - `io`: Hugging Face model directories as bytes; `tokenizer`: WordPiece; `vocab`: training a vocabulary.
//! - `model`: the config, weights, encoder forward and backward, pretraining and task heads.
//! - `tasks`: fine-tuning data, features, metrics and pipeline outputs (host side).
//! - `train`: pretraining data, corpus and recipe, the pretraining and fine-tuning steps, AdamW.
//! - `pipelines`: fill-mask, embeddings and the task pipelines.
//! - `web` (wasm32 only): the browser facade.

pub mod error;
pub mod gpu;
pub mod io;
pub mod model;
pub mod ops;
pub mod pipelines;
pub mod rng;
pub mod tasks;
pub mod tokenizer;
pub mod train;
pub mod vocab;

pub use error::{Error, ErrorKind, Result};
pub use gpu::{Gpu, Tensor};
pub use model::{Bert, BertConfig};
pub use pipelines::{FillMaskPrediction, Pooling};

#[cfg(target_arch = "wasm32")]
pub mod web;
