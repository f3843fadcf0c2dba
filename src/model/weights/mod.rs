//! The parameters of BERT, by Hugging Face names: the modules as structs (`Weights<Tensor>` on the GPU),
//! - `tree`: the one declaration of every parameter (name, shape, initialisation) and what derives from it
//!   (the list in file order, fresh initialisation, splitting the fused QKV for saving);
//! - `load`: which parts a file has, and taking each declared parameter from it.
//!
//! Q, K and V are stored fused as one (3H, H) weight so one matmul projects all three; loading and saving
//! split them back into `attention.self.{query,key,value}`.

mod load;
mod tree;

pub use tree::{init_host, params, qkv_parts, split_qkv, Dims, Init, Param, Parts};

use super::config::BertConfig;
use crate::error::Result;
use crate::gpu::{Gpu, Tensor};

/// `bert.embeddings.*`
pub struct Embeddings<T = Tensor> {
    pub word: T,       // (vocab, H) word_embeddings.weight; also the MLM decoder (tied)
    pub position: T,   // (max_positions, H) position_embeddings.weight
    pub token_type: T, // (type_vocab, H) token_type_embeddings.weight
    pub ln_weight: T,  // (H) LayerNorm.weight
    pub ln_bias: T,    // (H) LayerNorm.bias
}

/// `bert.encoder.layer.{i}.*`
pub struct Layer<T = Tensor> {
    pub qkv_weight: T,      // (3H, H) attention.self.{query,key,value}.weight stacked
    pub qkv_bias: T,        // (3H)
    pub attn_out_weight: T, // (H, H) attention.output.dense.weight
    pub attn_out_bias: T,   // (H)
    pub attn_ln_weight: T,  // (H) attention.output.LayerNorm.weight
    pub attn_ln_bias: T,    // (H)
    pub inter_weight: T,    // (I, H) intermediate.dense.weight
    pub inter_bias: T,      // (I)
    pub out_weight: T,      // (H, I) output.dense.weight
    pub out_bias: T,        // (H)
    pub out_ln_weight: T,   // (H) output.LayerNorm.weight
    pub out_ln_bias: T,     // (H)
}

/// `bert.pooler.dense.*`
pub struct Pooler<T = Tensor> {
    pub weight: T, // (H, H)
    pub bias: T,   // (H)
}

/// `cls.predictions.*`: transform (dense, act, LayerNorm), decoder tied to the word embeddings, bias.
pub struct MlmHead<T = Tensor> {
    pub transform_weight: T, // (H, H) transform.dense.weight
    pub transform_bias: T,   // (H)
    pub ln_weight: T,        // (H) transform.LayerNorm.weight
    pub ln_bias: T,          // (H)
    pub bias: T,             // (vocab) cls.predictions.bias
    /// (vocab, H) only when the file holds a decoder that differs from the word embeddings.
    pub untied_decoder: Option<T>,
}

/// `cls.seq_relationship.*`
pub struct NspHead<T = Tensor> {
    pub weight: T, // (2, H)
    pub bias: T,   // (2)
}

/// Which fine-tuning head a model has, as transformers names its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// `BertForSequenceClassification`: `classifier` on the pooled `[CLS]` output (one label: regression).
    Sequence,
    /// `BertForTokenClassification`: `classifier` on every token's last hidden state.
    Token,
    /// `BertForQuestionAnswering`: `qa_outputs` gives every token a start (column 0) and end (1) logit.
    Span,
}

impl HeadKind {
    pub fn architecture(self) -> &'static str {
        match self {
            HeadKind::Sequence => "BertForSequenceClassification",
            HeadKind::Token => "BertForTokenClassification",
            HeadKind::Span => "BertForQuestionAnswering",
        }
    }

    /// The parameter names' stem: `classifier` or `qa_outputs`.
    pub fn stem(self) -> &'static str {
        match self {
            HeadKind::Span => "qa_outputs",
            _ => "classifier",
        }
    }

    /// The number of outputs when the head fixes it (a start and an end logit for a span head); None
    /// when it has one output per label (one for regression).
    pub fn fixed_outputs(self) -> Option<usize> {
        match self {
            HeadKind::Span => Some(2),
            _ => None,
        }
    }

    /// The head a config's `architectures` names, if it is one of the three.
    pub fn from_architectures(c: &BertConfig) -> Option<HeadKind> {
        let names = c.architectures.as_deref().unwrap_or_default();
        [HeadKind::Sequence, HeadKind::Token, HeadKind::Span]
            .into_iter()
            .find(|k| names.iter().any(|n| n == k.architecture()))
    }
}

/// A fine-tuning head: one linear layer (`classifier.*` or `qa_outputs.*`).
pub struct TaskHead<T = Tensor> {
    pub kind: HeadKind,
    pub weight: T, // (labels, H); labels = 2 (start, end) for `Span`
    pub bias: T,   // (labels)
}

impl TaskHead {
    pub fn labels(&self) -> usize {
        self.weight.shape[0]
    }
}

/// The whole tree; `T` is a GPU tensor for a model, a [`Param`] for its declaration.
pub struct Weights<T = Tensor> {
    pub embeddings: Embeddings<T>,
    pub layers: Vec<Layer<T>>,
    pub pooler: Option<Pooler<T>>,
    pub mlm: Option<MlmHead<T>>,
    pub nsp: Option<NspHead<T>>,
    pub task: Option<TaskHead<T>>,
    /// Whether encoder names carry the `bert.` prefix in the file (false for a bare `BertModel`).
    pub prefixed: bool,
}

impl Weights {
    /// The sizes of this tree, read from its tensors.
    pub fn dims(&self) -> Dims {
        let e = &self.embeddings;
        Dims {
            hidden: e.word.shape[1],
            intermediate: self.layers.first().map_or(0, |l| l.inter_weight.shape[0]),
            vocab: e.word.shape[0],
            layers: self.layers.len(),
            max_positions: e.position.shape[0],
            type_vocab: e.token_type.shape[0],
        }
    }

    /// The optional modules this tree holds.
    pub fn parts(&self) -> Parts {
        Parts {
            prefixed: self.prefixed,
            pooler: self.pooler.is_some(),
            mlm: self.mlm.is_some(),
            untied_decoder: self.mlm.as_ref().is_some_and(|m| m.untied_decoder.is_some()),
            nsp: self.nsp.is_some(),
            task: self.task.as_ref().map(|t| (t.kind, t.labels())),
        }
    }

    /// Every parameter under its Hugging Face name with its GPU tensor, in declaration order; the fused
    /// QKV is listed once under `attention.self.qkv` (see [`split_qkv`]).
    pub fn named(&self) -> Vec<(String, &Tensor)> {
        let names = params(self.dims(), self.parts()).into_iter().map(|p| p.name);
        names.zip(self.tensors()).collect()
    }

    /// A tree of the same layout with every tensor replaced by `f(declaration, tensor)`.
    pub fn map(&self, f: &mut dyn FnMut(&Param, &Tensor) -> Result<Tensor>) -> Result<Weights> {
        let mut tensors = self.tensors().into_iter();
        Weights::declare(self.dims(), self.parts(), &mut |p| match tensors.next() {
            Some(t) => f(&p, t),
            None => Err(crate::error::Error::new(format!(
                "no tensor for the declared parameter {}",
                p.name
            ))),
        })
    }

    /// Zero tensors of the same shapes (gradients, optimizer moments), labelled `{what}.{name}`.
    pub fn zeros_like(&self, gpu: &Gpu, what: &str) -> Result<Weights> {
        self.map(&mut |p, t| gpu.zeros(&t.shape, &format!("{what}.{}", p.name)))
    }
}
