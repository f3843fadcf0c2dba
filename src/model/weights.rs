//! The parameters of BERT on the GPU, loaded from and saved to Hugging Face names.
//!
//! Q, K and V are stored fused as one (3H, H) weight so one matmul projects all three; loading and saving
//! split them back into `attention.self.{query,key,value}`.

use std::collections::HashMap;

use super::config::BertConfig;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::io::safetensors::{self, HostTensor};

/// `bert.embeddings.*`
pub struct Embeddings {
    pub word: Tensor,       // (vocab, H) word_embeddings.weight; also the MLM decoder (tied)
    pub position: Tensor,   // (max_positions, H) position_embeddings.weight
    pub token_type: Tensor, // (type_vocab, H) token_type_embeddings.weight
    pub ln_weight: Tensor,  // (H) LayerNorm.weight
    pub ln_bias: Tensor,    // (H) LayerNorm.bias
}

/// `bert.encoder.layer.{i}.*`
pub struct Layer {
    pub qkv_weight: Tensor,      // (3H, H) attention.self.{query,key,value}.weight stacked
    pub qkv_bias: Tensor,        // (3H)
    pub attn_out_weight: Tensor, // (H, H) attention.output.dense.weight
    pub attn_out_bias: Tensor,   // (H)
    pub attn_ln_weight: Tensor,  // (H) attention.output.LayerNorm.weight
    pub attn_ln_bias: Tensor,    // (H)
    pub inter_weight: Tensor,    // (I, H) intermediate.dense.weight
    pub inter_bias: Tensor,      // (I)
    pub out_weight: Tensor,      // (H, I) output.dense.weight
    pub out_bias: Tensor,        // (H)
    pub out_ln_weight: Tensor,   // (H) output.LayerNorm.weight
    pub out_ln_bias: Tensor,     // (H)
}

/// `bert.pooler.dense.*`
pub struct Pooler {
    pub weight: Tensor, // (H, H)
    pub bias: Tensor,   // (H)
}

/// `cls.predictions.*`: transform (dense, act, LayerNorm), decoder tied to the word embeddings, bias.
pub struct MlmHead {
    pub transform_weight: Tensor, // (H, H) transform.dense.weight
    pub transform_bias: Tensor,   // (H)
    pub ln_weight: Tensor,        // (H) transform.LayerNorm.weight
    pub ln_bias: Tensor,          // (H)
    pub bias: Tensor,             // (vocab) cls.predictions.bias
    /// (vocab, H) only when the file holds a decoder that differs from the word embeddings.
    pub untied_decoder: Option<Tensor>,
}

/// `cls.seq_relationship.*`
pub struct NspHead {
    pub weight: Tensor, // (2, H)
    pub bias: Tensor,   // (2)
}

/// Which fine-tuning head a model has, as transformers names its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// `BertForSequenceClassification`: `classifier` on the pooled [CLS] output (one label: regression).
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

    /// The head a config's `architectures` names, if it is one of the three.
    pub fn from_architectures(c: &BertConfig) -> Option<HeadKind> {
        let names = c.architectures.as_deref().unwrap_or_default();
        [HeadKind::Sequence, HeadKind::Token, HeadKind::Span]
            .into_iter()
            .find(|k| names.iter().any(|n| n == k.architecture()))
    }
}

/// A fine-tuning head: one linear layer (`classifier.*` or `qa_outputs.*`).
pub struct TaskHead {
    pub kind: HeadKind,
    pub weight: Tensor, // (labels, H); labels = 2 (start, end) for `Span`
    pub bias: Tensor,   // (labels)
}

impl TaskHead {
    pub fn labels(&self) -> usize {
        self.weight.shape[0]
    }
}

pub struct Weights {
    pub embeddings: Embeddings,
    pub layers: Vec<Layer>,
    pub pooler: Option<Pooler>,
    pub mlm: Option<MlmHead>,
    pub nsp: Option<NspHead>,
    pub task: Option<TaskHead>,
    /// Whether encoder names carry the `bert.` prefix in the file (false for a bare `BertModel`).
    pub prefixed: bool,
}

/// The canonical Hugging Face name of a tensor: old `LayerNorm.gamma`/`beta` become `weight`/`bias`.
fn canonical(name: String) -> String {
    match name.strip_suffix("LayerNorm.gamma") {
        Some(stem) => format!("{stem}LayerNorm.weight"),
        None => match name.strip_suffix("LayerNorm.beta") {
            Some(stem) => format!("{stem}LayerNorm.bias"),
            None => name,
        },
    }
}

/// Tensors from a file, by canonical Hugging Face name, taken one by one.
struct Source {
    tensors: HashMap<String, HostTensor>,
    /// The file's tensors of a dtype that cannot be weights (I64, I32), by canonical name: a needed one is
    /// reported with its dtype rather than as missing.
    not_float: HashMap<String, &'static str>,
    file: String,
    prefix: &'static str,
}

impl Source {
    fn new(tensors: Vec<(String, HostTensor)>, not_float: Vec<(String, &'static str)>, file: &str) -> Source {
        let prefixed = (tensors.iter().map(|(k, _)| k))
            .chain(not_float.iter().map(|(k, _)| k))
            .any(|k| k.starts_with("bert."));
        Source {
            tensors: tensors.into_iter().map(|(k, t)| (canonical(k), t)).collect(),
            not_float: not_float.into_iter().map(|(k, d)| (canonical(k), d)).collect(),
            file: file.into(),
            prefix: if prefixed { "bert." } else { "" },
        }
    }

    /// Whether the file holds `name`, whatever its dtype.
    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.not_float.contains_key(name)
    }

    /// The full name of `name`: encoder names get the file's prefix.
    fn full_name(&self, name: &str, encoder: bool) -> String {
        if encoder {
            format!("{}{name}", self.prefix)
        } else {
            name.to_string()
        }
    }

    /// The error for a needed tensor that is not among the float tensors.
    fn absent(&self, full: &str) -> Error {
        match self.not_float.get(full) {
            Some(dtype) => safetensors::wrong_dtype(&self.file, full, dtype),
            None => Error::new(format!("{}: missing tensor {full}", self.file)),
        }
    }

    /// The shape of `name` (encoder names get the file's prefix).
    fn shape(&self, name: &str, encoder: bool) -> Result<&[usize]> {
        let full = self.full_name(name, encoder);
        match self.tensors.get(&full) {
            Some(t) => Ok(&t.shape),
            None => Err(self.absent(&full)),
        }
    }

    /// Takes `name` (encoder names get the file's prefix) and checks its shape.
    fn take(&mut self, name: &str, shape: &[usize], encoder: bool) -> Result<HostTensor> {
        let full = self.full_name(name, encoder);
        let t = self.tensors.remove(&full).ok_or_else(|| self.absent(&full))?;
        if t.shape != shape {
            return Err(Error::new(format!(
                "{}: tensor {full} has shape {:?}, expected {shape:?}",
                self.file, t.shape
            )));
        }
        Ok(t)
    }
}

fn up(gpu: &Gpu, t: &HostTensor, name: &str) -> Result<Tensor> {
    gpu.upload(&t.data, &t.shape, name)
}

impl Weights {
    /// Reads and uploads the weights of a safetensors file; `file` names it in errors. A needed tensor
    /// stored with an integer dtype is reported as such, not as missing.
    pub fn from_safetensors(gpu: &Gpu, c: &BertConfig, bytes: &[u8], file: &str) -> Result<Weights> {
        let tensors = safetensors::load(bytes, file)?;
        let dtypes = safetensors::dtypes(bytes, file).map_err(Error::in_file)?;
        let not_float = dtypes
            .into_iter()
            .filter(|(_, d)| !["F32", "F16", "BF16", "F64"].contains(d));
        // Missing or misshapen tensors are the file's fault; GPU and limit errors keep their kind.
        Self::from_source(gpu, c, Source::new(tensors, not_float.collect(), file)).map_err(Error::in_file)
    }

    /// Uploads host tensors by Hugging Face name; `file` names their source in errors.
    pub fn from_host(gpu: &Gpu, c: &BertConfig, tensors: Vec<(String, HostTensor)>, file: &str) -> Result<Weights> {
        Self::from_source(gpu, c, Source::new(tensors, Vec::new(), file))
    }

    fn from_source(gpu: &Gpu, c: &BertConfig, mut src: Source) -> Result<Weights> {
        let (h, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
        let t = |src: &mut Source, name: &str, shape: &[usize], encoder: bool| -> Result<Tensor> {
            let host = src.take(name, shape, encoder)?;
            up(gpu, &host, name)
        };
        let word_host = src.take("embeddings.word_embeddings.weight", &[v, h], true)?;
        let embeddings = Embeddings {
            word: up(gpu, &word_host, "embeddings.word_embeddings.weight")?,
            position: t(
                &mut src,
                "embeddings.position_embeddings.weight",
                &[c.max_position_embeddings, h],
                true,
            )?,
            token_type: t(
                &mut src,
                "embeddings.token_type_embeddings.weight",
                &[c.type_vocab_size, h],
                true,
            )?,
            ln_weight: t(&mut src, "embeddings.LayerNorm.weight", &[h], true)?,
            ln_bias: t(&mut src, "embeddings.LayerNorm.bias", &[h], true)?,
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for l in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            let mut qkv_w = Vec::with_capacity(3 * h * h);
            let mut qkv_b = Vec::with_capacity(3 * h);
            for part in ["query", "key", "value"] {
                qkv_w.extend(
                    src.take(&format!("{p}attention.self.{part}.weight"), &[h, h], true)?
                        .data,
                );
                qkv_b.extend(src.take(&format!("{p}attention.self.{part}.bias"), &[h], true)?.data);
            }
            layers.push(Layer {
                qkv_weight: gpu.upload(&qkv_w, &[3 * h, h], &format!("{p}attention.self.qkv.weight"))?,
                qkv_bias: gpu.upload(&qkv_b, &[3 * h], &format!("{p}attention.self.qkv.bias"))?,
                attn_out_weight: t(&mut src, &format!("{p}attention.output.dense.weight"), &[h, h], true)?,
                attn_out_bias: t(&mut src, &format!("{p}attention.output.dense.bias"), &[h], true)?,
                attn_ln_weight: t(&mut src, &format!("{p}attention.output.LayerNorm.weight"), &[h], true)?,
                attn_ln_bias: t(&mut src, &format!("{p}attention.output.LayerNorm.bias"), &[h], true)?,
                inter_weight: t(&mut src, &format!("{p}intermediate.dense.weight"), &[i, h], true)?,
                inter_bias: t(&mut src, &format!("{p}intermediate.dense.bias"), &[i], true)?,
                out_weight: t(&mut src, &format!("{p}output.dense.weight"), &[h, i], true)?,
                out_bias: t(&mut src, &format!("{p}output.dense.bias"), &[h], true)?,
                out_ln_weight: t(&mut src, &format!("{p}output.LayerNorm.weight"), &[h], true)?,
                out_ln_bias: t(&mut src, &format!("{p}output.LayerNorm.bias"), &[h], true)?,
            });
        }
        let pooler = if src.has(&format!("{}pooler.dense.weight", src.prefix)) {
            Some(Pooler {
                weight: t(&mut src, "pooler.dense.weight", &[h, h], true)?,
                bias: t(&mut src, "pooler.dense.bias", &[h], true)?,
            })
        } else {
            None
        };
        let mlm = if src.has("cls.predictions.transform.dense.weight") {
            let decoder = if src.has("cls.predictions.decoder.weight") {
                let d = src.take("cls.predictions.decoder.weight", &[v, h], false)?;
                (d.data != word_host.data).then_some(d)
            } else {
                None
            };
            Some(MlmHead {
                transform_weight: t(&mut src, "cls.predictions.transform.dense.weight", &[h, h], false)?,
                transform_bias: t(&mut src, "cls.predictions.transform.dense.bias", &[h], false)?,
                ln_weight: t(&mut src, "cls.predictions.transform.LayerNorm.weight", &[h], false)?,
                ln_bias: t(&mut src, "cls.predictions.transform.LayerNorm.bias", &[h], false)?,
                bias: t(&mut src, "cls.predictions.bias", &[v], false)?,
                untied_decoder: decoder
                    .map(|d| up(gpu, &d, "cls.predictions.decoder.weight"))
                    .transpose()?,
            })
        } else {
            None
        };
        let nsp = if src.has("cls.seq_relationship.weight") {
            Some(NspHead {
                weight: t(&mut src, "cls.seq_relationship.weight", &[2, h], false)?,
                bias: t(&mut src, "cls.seq_relationship.bias", &[2], false)?,
            })
        } else {
            None
        };
        let task = task_head(gpu, c, &mut src, pooler.is_some())?;
        Ok(Weights {
            embeddings,
            layers,
            pooler,
            mlm,
            nsp,
            task,
            prefixed: !src.prefix.is_empty(),
        })
    }

    /// A structure of the same layout with every tensor replaced by `f(name, tensor)`: gradients and
    /// optimizer moments are `Weights` of zeros.
    pub fn map(&self, f: &mut dyn FnMut(&str, &Tensor) -> Result<Tensor>) -> Result<Weights> {
        let e = &self.embeddings;
        let embeddings = Embeddings {
            word: f("word", &e.word)?,
            position: f("position", &e.position)?,
            token_type: f("token_type", &e.token_type)?,
            ln_weight: f("ln_weight", &e.ln_weight)?,
            ln_bias: f("ln_bias", &e.ln_bias)?,
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            layers.push(Layer {
                qkv_weight: f("qkv_weight", &l.qkv_weight)?,
                qkv_bias: f("qkv_bias", &l.qkv_bias)?,
                attn_out_weight: f("attn_out_weight", &l.attn_out_weight)?,
                attn_out_bias: f("attn_out_bias", &l.attn_out_bias)?,
                attn_ln_weight: f("attn_ln_weight", &l.attn_ln_weight)?,
                attn_ln_bias: f("attn_ln_bias", &l.attn_ln_bias)?,
                inter_weight: f("inter_weight", &l.inter_weight)?,
                inter_bias: f("inter_bias", &l.inter_bias)?,
                out_weight: f("out_weight", &l.out_weight)?,
                out_bias: f("out_bias", &l.out_bias)?,
                out_ln_weight: f("out_ln_weight", &l.out_ln_weight)?,
                out_ln_bias: f("out_ln_bias", &l.out_ln_bias)?,
            });
        }
        let pooler = match &self.pooler {
            Some(p) => Some(Pooler {
                weight: f("pooler_weight", &p.weight)?,
                bias: f("pooler_bias", &p.bias)?,
            }),
            None => None,
        };
        let mlm = match &self.mlm {
            Some(m) => Some(MlmHead {
                transform_weight: f("transform_weight", &m.transform_weight)?,
                transform_bias: f("transform_bias", &m.transform_bias)?,
                ln_weight: f("mlm_ln_weight", &m.ln_weight)?,
                ln_bias: f("mlm_ln_bias", &m.ln_bias)?,
                bias: f("mlm_bias", &m.bias)?,
                untied_decoder: match &m.untied_decoder {
                    Some(d) => Some(f("decoder", d)?),
                    None => None,
                },
            }),
            None => None,
        };
        let nsp = match &self.nsp {
            Some(n) => Some(NspHead {
                weight: f("nsp_weight", &n.weight)?,
                bias: f("nsp_bias", &n.bias)?,
            }),
            None => None,
        };
        let task = match &self.task {
            Some(t) => Some(TaskHead {
                kind: t.kind,
                weight: f("task_weight", &t.weight)?,
                bias: f("task_bias", &t.bias)?,
            }),
            None => None,
        };
        Ok(Weights {
            embeddings,
            layers,
            pooler,
            mlm,
            nsp,
            task,
            prefixed: self.prefixed,
        })
    }

    /// Zero tensors of the same shapes (gradients, optimizer moments).
    pub fn zeros_like(&self, gpu: &Gpu, what: &str) -> Result<Weights> {
        self.map(&mut |name, t| gpu.zeros(&t.shape, &format!("{what}.{name}")))
    }

    /// Every parameter under its Hugging Face name with its GPU tensor, in file order; the fused QKV
    /// weight is listed once under `attention.self.qkv` and split by `split_qkv`.
    pub fn named(&self) -> Vec<(String, &Tensor)> {
        let pre = if self.prefixed { "bert." } else { "" };
        let e = &self.embeddings;
        let mut out: Vec<(String, &Tensor)> = vec![
            (format!("{pre}embeddings.word_embeddings.weight"), &e.word),
            (format!("{pre}embeddings.position_embeddings.weight"), &e.position),
            (format!("{pre}embeddings.token_type_embeddings.weight"), &e.token_type),
            (format!("{pre}embeddings.LayerNorm.weight"), &e.ln_weight),
            (format!("{pre}embeddings.LayerNorm.bias"), &e.ln_bias),
        ];
        for (l, layer) in self.layers.iter().enumerate() {
            let p = format!("{pre}encoder.layer.{l}.");
            out.extend([
                (format!("{p}attention.self.qkv.weight"), &layer.qkv_weight),
                (format!("{p}attention.self.qkv.bias"), &layer.qkv_bias),
                (format!("{p}attention.output.dense.weight"), &layer.attn_out_weight),
                (format!("{p}attention.output.dense.bias"), &layer.attn_out_bias),
                (format!("{p}attention.output.LayerNorm.weight"), &layer.attn_ln_weight),
                (format!("{p}attention.output.LayerNorm.bias"), &layer.attn_ln_bias),
                (format!("{p}intermediate.dense.weight"), &layer.inter_weight),
                (format!("{p}intermediate.dense.bias"), &layer.inter_bias),
                (format!("{p}output.dense.weight"), &layer.out_weight),
                (format!("{p}output.dense.bias"), &layer.out_bias),
                (format!("{p}output.LayerNorm.weight"), &layer.out_ln_weight),
                (format!("{p}output.LayerNorm.bias"), &layer.out_ln_bias),
            ]);
        }
        if let Some(pl) = &self.pooler {
            out.push((format!("{pre}pooler.dense.weight"), &pl.weight));
            out.push((format!("{pre}pooler.dense.bias"), &pl.bias));
        }
        if let Some(m) = &self.mlm {
            out.push(("cls.predictions.bias".into(), &m.bias));
            out.push(("cls.predictions.transform.dense.weight".into(), &m.transform_weight));
            out.push(("cls.predictions.transform.dense.bias".into(), &m.transform_bias));
            out.push(("cls.predictions.transform.LayerNorm.weight".into(), &m.ln_weight));
            out.push(("cls.predictions.transform.LayerNorm.bias".into(), &m.ln_bias));
            if let Some(d) = &m.untied_decoder {
                out.push(("cls.predictions.decoder.weight".into(), d));
            }
        }
        if let Some(n) = &self.nsp {
            out.push(("cls.seq_relationship.weight".into(), &n.weight));
            out.push(("cls.seq_relationship.bias".into(), &n.bias));
        }
        if let Some(t) = &self.task {
            out.push((format!("{}.weight", t.kind.stem()), &t.weight));
            out.push((format!("{}.bias", t.kind.stem()), &t.bias));
        }
        out
    }
}

/// The task head of a file, if any. `classifier.*` is a sequence head when the config says so (or, without
/// `architectures`, when the model has a pooler) and a token head otherwise; its row count must match the
/// config's label map when there is one.
fn task_head(gpu: &Gpu, c: &BertConfig, src: &mut Source, has_pooler: bool) -> Result<Option<TaskHead>> {
    let h = c.hidden_size;
    let kind = if src.has("qa_outputs.weight") {
        HeadKind::Span
    } else if src.has("classifier.weight") {
        match HeadKind::from_architectures(c) {
            Some(k @ (HeadKind::Sequence | HeadKind::Token)) => k,
            _ if has_pooler => HeadKind::Sequence,
            _ => HeadKind::Token,
        }
    } else {
        return Ok(None);
    };
    let stem = kind.stem();
    let rows = src
        .shape(&format!("{stem}.weight"), false)?
        .first()
        .copied()
        .unwrap_or(0);
    let expected = match (kind, c.extra.get("id2label").and_then(|m| m.as_object())) {
        (HeadKind::Span, _) => 2,
        (_, Some(map)) => map.len(),
        (_, None) => rows,
    };
    if rows != expected {
        return Err(Error::new(format!(
            "{}: {stem}.weight has {rows} rows but config.json's id2label has {expected} labels",
            src.file
        )));
    }
    let weight = up(gpu, &src.take(&format!("{stem}.weight"), &[rows, h], false)?, stem)?;
    let bias = up(gpu, &src.take(&format!("{stem}.bias"), &[rows], false)?, stem)?;
    Ok(Some(TaskHead { kind, weight, bias }))
}

/// Builds freshly initialised host tensors under Hugging Face names.
struct Init {
    rng: crate::rng::Rng,
    std: f64,
    out: Vec<(String, HostTensor)>,
}

impl Init {
    fn normal(&mut self, name: &str, shape: &[usize]) {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| (self.rng.normal() * self.std) as f32).collect();
        self.out.push((
            name.into(),
            HostTensor {
                shape: shape.to_vec(),
                data,
            },
        ));
    }
    fn fill(&mut self, name: &str, shape: &[usize], value: f32) {
        let n: usize = shape.iter().product();
        self.out.push((
            name.into(),
            HostTensor {
                shape: shape.to_vec(),
                data: vec![value; n],
            },
        ));
    }
    fn dense(&mut self, stem: &str, out_features: usize, in_features: usize) {
        self.normal(&format!("{stem}.weight"), &[out_features, in_features]);
        self.fill(&format!("{stem}.bias"), &[out_features], 0.0);
    }
    fn layer_norm(&mut self, stem: &str, h: usize) {
        self.fill(&format!("{stem}.weight"), &[h], 1.0);
        self.fill(&format!("{stem}.bias"), &[h], 0.0);
    }
}

/// Freshly initialised parameters as BERT initialises them: normal(0, initializer_range) weights, zero
/// biases, LayerNorm weights one. Includes the pooler, MLM and NSP heads (`BertForPreTraining`).
pub fn init_host(c: &BertConfig, seed: u64) -> Vec<(String, HostTensor)> {
    let (h, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let mut w = Init {
        rng: crate::rng::Rng::new(seed),
        std: c.initializer_range,
        out: Vec::new(),
    };
    w.normal("bert.embeddings.word_embeddings.weight", &[v, h]);
    w.normal(
        "bert.embeddings.position_embeddings.weight",
        &[c.max_position_embeddings, h],
    );
    w.normal("bert.embeddings.token_type_embeddings.weight", &[c.type_vocab_size, h]);
    w.layer_norm("bert.embeddings.LayerNorm", h);
    for l in 0..c.num_hidden_layers {
        let p = format!("bert.encoder.layer.{l}.");
        for part in ["query", "key", "value"] {
            w.dense(&format!("{p}attention.self.{part}"), h, h);
        }
        w.dense(&format!("{p}attention.output.dense"), h, h);
        w.layer_norm(&format!("{p}attention.output.LayerNorm"), h);
        w.dense(&format!("{p}intermediate.dense"), i, h);
        w.dense(&format!("{p}output.dense"), h, i);
        w.layer_norm(&format!("{p}output.LayerNorm"), h);
    }
    w.dense("bert.pooler.dense", h, h);
    w.dense("cls.predictions.transform.dense", h, h);
    w.layer_norm("cls.predictions.transform.LayerNorm", h);
    w.fill("cls.predictions.bias", &[v], 0.0);
    w.dense("cls.seq_relationship", 2, h);
    w.out
}

/// Splits a fused `attention.self.qkv.{weight,bias}` host tensor into Hugging Face's query, key, value.
pub fn split_qkv(name: &str, t: HostTensor) -> Vec<(String, HostTensor)> {
    let Some(stem) = name.strip_suffix(".weight").or_else(|| name.strip_suffix(".bias")) else {
        return vec![(name.to_string(), t)];
    };
    let Some(stem) = stem.strip_suffix("attention.self.qkv") else {
        return vec![(name.to_string(), t)];
    };
    let suffix = &name[name.rfind('.').unwrap()..];
    let part_len = t.data.len() / 3;
    let mut shape = t.shape.clone();
    shape[0] /= 3;
    ["query", "key", "value"]
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let data = t.data[i * part_len..(i + 1) * part_len].to_vec();
            (
                format!("{stem}attention.self.{part}{suffix}"),
                HostTensor {
                    shape: shape.clone(),
                    data,
                },
            )
        })
        .collect()
}
