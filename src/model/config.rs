//! `BertConfig`: the fields of a Hugging Face BERT `config.json`, by their Hugging Face names.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::ops::tune::{bert_shapes, MatmulShape};
use crate::ops::Act;

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-12
}
fn default_type_vocab() -> usize {
    2
}
fn default_max_positions() -> usize {
    512
}
fn default_dropout() -> f64 {
    0.1
}
fn default_init_range() -> f64 {
    0.02
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    /// "gelu" (exact, erf), "gelu_new" / "gelu_pytorch_tanh" (tanh approximation), "relu".
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// BERT uses 1e-12, which in f32 is as good as no epsilon for non-degenerate rows.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: usize,
    /// Only "absolute" is supported (relative position embeddings are not BERT's recipe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_embedding_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Everything else in the file (label maps, task settings, versions), kept for saving.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_model_type() -> String {
    "bert".into()
}

impl BertConfig {
    /// The matmul shapes of this model at (batch, seq) with `rows` masked positions (0: no MLM head),
    /// with `training` the backward forms too: what the kernel selection times.
    pub fn matmul_shapes(&self, batch: usize, seq: usize, rows: usize, training: bool) -> Vec<MatmulShape> {
        let (h, i, heads, vocab) = (
            self.hidden_size,
            self.intermediate_size,
            self.num_attention_heads,
            self.vocab_size,
        );
        bert_shapes(h, i, heads, vocab, batch, seq, rows, training)
    }

    /// Parses and checks `config.json`; errors name the field.
    pub fn from_json(bytes: &[u8]) -> Result<BertConfig> {
        let c: BertConfig =
            serde_json::from_slice(bytes).map_err(|e| Error::of(ErrorKind::BadFile, format!("config.json: {e}")))?;
        c.validate().map_err(Error::in_file)?;
        Ok(c)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serialises")
    }

    pub fn validate(&self) -> Result<()> {
        let field = |name: &str, msg: String| Err(Error::new(format!("config.json: {name}: {msg}")));
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v == 0 {
                return field(name, "must be positive".into());
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return field(
                "hidden_size",
                format!(
                    "{} is not a multiple of num_attention_heads ({})",
                    self.hidden_size, self.num_attention_heads
                ),
            );
        }
        if !self.head_dim().is_multiple_of(4) || !self.intermediate_size.is_multiple_of(4) {
            return field(
                "hidden_size",
                format!(
                    "the kernels read vec4: head size {} and intermediate_size {} must be multiples of 4",
                    self.head_dim(),
                    self.intermediate_size
                ),
            );
        }
        if Act::from_hf_name(&self.hidden_act).is_none() {
            return field(
                "hidden_act",
                format!(
                    "{:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)",
                    self.hidden_act
                ),
            );
        }
        if let Some(t) = &self.position_embedding_type {
            if t != "absolute" {
                return field("position_embedding_type", format!("{t:?} is not supported (absolute)"));
            }
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ] {
            if !(0.0..1.0).contains(&p) {
                return field(name, format!("{p} is not a probability in [0, 1)"));
            }
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return field(
                "layer_norm_eps",
                format!("{} is not a valid epsilon", self.layer_norm_eps),
            );
        }
        Ok(())
    }

    /// Whether training applies dropout (either probability above zero).
    pub fn uses_dropout(&self) -> bool {
        self.hidden_dropout_prob > 0.0 || self.attention_probs_dropout_prob > 0.0
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub fn act(&self) -> Act {
        Act::from_hf_name(&self.hidden_act).unwrap_or(Act::Gelu)
    }

    /// A config with BERT's defaults for the given sizes.
    pub fn new(vocab_size: usize, hidden: usize, layers: usize, heads: usize, intermediate: usize) -> BertConfig {
        BertConfig {
            vocab_size,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: intermediate,
            hidden_act: default_act(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            position_embedding_type: Some("absolute".into()),
            architectures: Some(vec!["BertForPreTraining".into()]),
            model_type: "bert".into(),
            extra: Default::default(),
        }
    }
}
