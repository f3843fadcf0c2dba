//! bert-wgpu: BERT in WGSL compute shaders, dispatched by one wgpu runtime that runs natively and in the
//! browser. `gpu` is the runtime, `ops` has one module per shader file, `model` the config, weights,
//! encoder and heads, `io` Hugging Face files, `tokenizer` WordPiece, `pipelines` fill-mask and embeddings.

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

pub use error::{Error, Result};
pub use gpu::{Gpu, Tensor};
pub use model::{Bert, BertConfig};
pub use pipelines::{FillMaskPrediction, Pooling};

#[cfg(target_arch = "wasm32")]
pub mod web;
