//! bert-wgpu: BERT in WGSL compute shaders, dispatched by one wgpu runtime that runs natively and in the
//! browser. See DESIGN.md-style notes in README.md for the layout: `gpu` (runtime), `ops` (one module per
//! shader file), `model` (config, weights, encoder, heads), `io` (Hugging Face directories), `tokenizer`.

pub mod error;
pub mod gpu;
pub mod ops;

pub use error::{Error, Result};
pub use gpu::{Gpu, Tensor};

#[cfg(target_arch = "wasm32")]
pub mod web;
