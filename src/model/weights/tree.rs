//! The parameter tree, declared once: [`Weights::declare`] names every parameter by its Hugging Face name,
//! composed per module (`bert.` + `encoder.layer.{i}.` + `attention.output.` + `dense`), with its shape
//! and how a fresh model initialises it. Loading, initialisation, saving, zeroed copies and the size check
//! all walk this one declaration; [`Weights::tensors`] lists the tensors of a built tree in the same order.

use super::{Embeddings, HeadKind, Layer, MlmHead, NspHead, Pooler, TaskHead, Weights};
use crate::error::Result;
use crate::io::safetensors::HostTensor;
use crate::model::config::BertConfig;
use crate::rng::Rng;

/// The sizes the tree depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub hidden: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub layers: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
}

impl Dims {
    pub fn of(c: &BertConfig) -> Dims {
        Dims {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            vocab: c.vocab_size,
            layers: c.num_hidden_layers,
            max_positions: c.max_position_embeddings,
            type_vocab: c.type_vocab_size,
        }
    }
}

/// Which optional modules a model has, and how its encoder names are spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    /// Encoder names carry the `bert.` prefix (false for a bare `BertModel` file).
    pub prefixed: bool,
    pub pooler: bool,
    pub mlm: bool,
    /// `cls.predictions.decoder.weight` differs from the word embeddings (only with `mlm`).
    pub untied_decoder: bool,
    pub nsp: bool,
    /// The fine-tuning head and its number of outputs.
    pub task: Option<(HeadKind, usize)>,
}

impl Parts {
    /// `BertForPreTraining`, as pretraining initialises it.
    pub const PRETRAINING: Parts = Parts {
        prefixed: true,
        pooler: true,
        mlm: true,
        untied_decoder: false,
        nsp: true,
        task: None,
    };
}

/// How a fresh model initialises a parameter (as transformers' `BertPreTrainedModel._init_weights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// normal(0, initializer_range): weights and embeddings.
    Normal,
    /// Biases.
    Zeros,
    /// LayerNorm weights.
    Ones,
}

/// One declared parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The full Hugging Face name; the fused `attention.self.qkv.{weight,bias}` stands for query, key and
    /// value (see [`qkv_parts`]).
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl Param {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Hands each parameter to the caller's function, composing names per module.
struct Declare<'f, T> {
    f: &'f mut dyn FnMut(Param) -> Result<T>,
}

impl<T> Declare<'_, T> {
    fn param(&mut self, name: String, shape: &[usize], init: Init) -> Result<T> {
        (self.f)(Param {
            name,
            shape: shape.to_vec(),
            init,
        })
    }
    /// `{stem}.weight` (rows, cols) of a dense layer or embedding table.
    fn weight(&mut self, stem: &str, rows: usize, cols: usize) -> Result<T> {
        self.param(format!("{stem}.weight"), &[rows, cols], Init::Normal)
    }
    fn bias(&mut self, stem: &str, n: usize) -> Result<T> {
        self.param(format!("{stem}.bias"), &[n], Init::Zeros)
    }
    fn ln_weight(&mut self, stem: &str, n: usize) -> Result<T> {
        self.param(format!("{stem}.weight"), &[n], Init::Ones)
    }
}

impl<T> Weights<T> {
    /// The tree of a model with these sizes and parts: `f` turns each declared parameter into the slot
    /// that the returned tree holds (a GPU tensor, a host tensor, the declaration itself).
    pub fn declare(d: Dims, parts: Parts, f: &mut dyn FnMut(Param) -> Result<T>) -> Result<Weights<T>> {
        let (h, i, v) = (d.hidden, d.intermediate, d.vocab);
        let mut p = Declare { f };
        let root = if parts.prefixed { "bert." } else { "" };
        let e = format!("{root}embeddings");
        let embeddings = Embeddings {
            word: p.weight(&format!("{e}.word_embeddings"), v, h)?,
            position: p.weight(&format!("{e}.position_embeddings"), d.max_positions, h)?,
            token_type: p.weight(&format!("{e}.token_type_embeddings"), d.type_vocab, h)?,
            ln_weight: p.ln_weight(&format!("{e}.LayerNorm"), h)?,
            ln_bias: p.bias(&format!("{e}.LayerNorm"), h)?,
        };
        let mut layers = Vec::with_capacity(d.layers);
        for l in 0..d.layers {
            let at = |module: &str| format!("{root}encoder.layer.{l}.{module}");
            let (qkv, attn_out, attn_ln) = (
                at("attention.self.qkv"),
                at("attention.output.dense"),
                at("attention.output.LayerNorm"),
            );
            let (inter, out, out_ln) = (at("intermediate.dense"), at("output.dense"), at("output.LayerNorm"));
            layers.push(Layer {
                qkv_weight: p.weight(&qkv, 3 * h, h)?,
                qkv_bias: p.bias(&qkv, 3 * h)?,
                attn_out_weight: p.weight(&attn_out, h, h)?,
                attn_out_bias: p.bias(&attn_out, h)?,
                attn_ln_weight: p.ln_weight(&attn_ln, h)?,
                attn_ln_bias: p.bias(&attn_ln, h)?,
                inter_weight: p.weight(&inter, i, h)?,
                inter_bias: p.bias(&inter, i)?,
                out_weight: p.weight(&out, h, i)?,
                out_bias: p.bias(&out, h)?,
                out_ln_weight: p.ln_weight(&out_ln, h)?,
                out_ln_bias: p.bias(&out_ln, h)?,
            });
        }
        let pooler = match parts.pooler {
            true => {
                let stem = format!("{root}pooler.dense");
                Some(Pooler {
                    weight: p.weight(&stem, h, h)?,
                    bias: p.bias(&stem, h)?,
                })
            }
            false => None,
        };
        let mlm = match parts.mlm {
            true => Some(MlmHead {
                transform_weight: p.weight("cls.predictions.transform.dense", h, h)?,
                transform_bias: p.bias("cls.predictions.transform.dense", h)?,
                ln_weight: p.ln_weight("cls.predictions.transform.LayerNorm", h)?,
                ln_bias: p.bias("cls.predictions.transform.LayerNorm", h)?,
                bias: p.bias("cls.predictions", v)?,
                untied_decoder: match parts.untied_decoder {
                    true => Some(p.weight("cls.predictions.decoder", v, h)?),
                    false => None,
                },
            }),
            false => None,
        };
        let nsp = match parts.nsp {
            true => Some(NspHead {
                weight: p.weight("cls.seq_relationship", 2, h)?,
                bias: p.bias("cls.seq_relationship", 2)?,
            }),
            false => None,
        };
        let task = match parts.task {
            Some((kind, labels)) => Some(TaskHead {
                kind,
                weight: p.weight(kind.stem(), labels, h)?,
                bias: p.bias(kind.stem(), labels)?,
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
            prefixed: parts.prefixed,
        })
    }

    /// Every slot, in the order `declare` declares them.
    pub fn tensors(&self) -> Vec<&T> {
        let e = &self.embeddings;
        let mut out = vec![&e.word, &e.position, &e.token_type, &e.ln_weight, &e.ln_bias];
        for l in &self.layers {
            out.extend([
                &l.qkv_weight,
                &l.qkv_bias,
                &l.attn_out_weight,
                &l.attn_out_bias,
                &l.attn_ln_weight,
                &l.attn_ln_bias,
                &l.inter_weight,
                &l.inter_bias,
                &l.out_weight,
                &l.out_bias,
                &l.out_ln_weight,
                &l.out_ln_bias,
            ]);
        }
        if let Some(pl) = &self.pooler {
            out.extend([&pl.weight, &pl.bias]);
        }
        if let Some(m) = &self.mlm {
            out.extend([
                &m.transform_weight,
                &m.transform_bias,
                &m.ln_weight,
                &m.ln_bias,
                &m.bias,
            ]);
            out.extend(&m.untied_decoder);
        }
        if let Some(n) = &self.nsp {
            out.extend([&n.weight, &n.bias]);
        }
        if let Some(t) = &self.task {
            out.extend([&t.weight, &t.bias]);
        }
        out
    }
}

/// The declarations of a model with these sizes and parts, in order.
pub fn params(d: Dims, parts: Parts) -> Vec<Param> {
    let tree = Weights::declare(d, parts, &mut |p| Ok(p)).expect("declaring parameters cannot fail");
    tree.tensors().into_iter().cloned().collect()
}

/// The three Hugging Face names that a fused `...attention.self.qkv.{weight,bias}` stands for.
pub fn qkv_parts(name: &str) -> Option<[String; 3]> {
    let (stem, suffix) = name.rsplit_once('.')?;
    let module = stem.strip_suffix("attention.self.qkv")?;
    Some(["query", "key", "value"].map(|part| format!("{module}attention.self.{part}.{suffix}")))
}

/// Splits a fused `attention.self.qkv.{weight,bias}` host tensor into query, key and value (their rows in
/// that order); any other tensor passes through.
pub fn split_qkv(name: &str, t: HostTensor) -> Vec<(String, HostTensor)> {
    let Some(names) = qkv_parts(name) else {
        return vec![(name.to_string(), t)];
    };
    let mut shape = t.shape.clone();
    shape[0] /= 3;
    let part_len = t.data.len() / 3;
    names
        .into_iter()
        .zip(t.data.chunks(part_len.max(1)))
        .map(|(name, data)| {
            let data = data.to_vec();
            let shape = shape.clone();
            (name, HostTensor { shape, data })
        })
        .collect()
}

/// Freshly initialised `BertForPreTraining` parameters under Hugging Face names (query, key and value
/// apart), drawn from `seed`: see [`Init`].
pub fn init_host(c: &BertConfig, seed: u64) -> Vec<(String, HostTensor)> {
    let mut rng = Rng::new(seed);
    let std = c.initializer_range;
    let mut out = Vec::new();
    for p in params(Dims::of(c), Parts::PRETRAINING) {
        let data = match p.init {
            Init::Normal => (0..p.len()).map(|_| (rng.normal() * std) as f32).collect(),
            Init::Zeros => vec![0.0; p.len()],
            Init::Ones => vec![1.0; p.len()],
        };
        out.extend(split_qkv(&p.name, HostTensor { shape: p.shape, data }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIMS: Dims = Dims {
        hidden: 8,
        intermediate: 16,
        vocab: 30,
        layers: 2,
        max_positions: 12,
        type_vocab: 2,
    };

    /// `tensors` lists the slots in the order `declare` hands them out, for every combination of parts.
    #[test]
    fn tensors_follow_the_declaration_order() {
        for bits in 0..64u32 {
            let on = |i: u32| bits & (1 << i) != 0;
            let parts = Parts {
                prefixed: on(0),
                pooler: on(1),
                mlm: on(2),
                untied_decoder: on(2) && on(3),
                nsp: on(4),
                task: on(5).then_some((HeadKind::Token, 3)),
            };
            let mut order = 0usize;
            let tree = Weights::declare(DIMS, parts, &mut |p| {
                order += 1;
                Ok((order, p))
            })
            .unwrap();
            let seen: Vec<usize> = tree.tensors().iter().map(|(i, _)| *i).collect();
            assert_eq!(seen, (1..=order).collect::<Vec<_>>(), "{parts:?}");
        }
    }

    #[test]
    fn pretraining_names_are_bert_for_pretraining_names() {
        let names: Vec<String> = init_host(&config(), 1).into_iter().map(|(n, _)| n).collect();
        let per_layer = 16; // q, k, v, attention output, its LayerNorm, intermediate, output, its LayerNorm
        assert_eq!(names.len(), 5 + per_layer * DIMS.layers + 2 + 5 + 2);
        for name in [
            "bert.embeddings.word_embeddings.weight",
            "bert.encoder.layer.1.attention.self.value.bias",
            "bert.encoder.layer.0.output.LayerNorm.weight",
            "bert.pooler.dense.weight",
            "cls.predictions.bias",
            "cls.predictions.transform.LayerNorm.bias",
            "cls.seq_relationship.weight",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("qkv") || n.contains("decoder")));
    }

    #[test]
    fn initialisation_follows_the_declaration() {
        let c = config();
        let host = init_host(&c, 7);
        let get = |name: &str| &host.iter().find(|(n, _)| n == name).unwrap().1;
        assert!(get("bert.embeddings.LayerNorm.weight").data.iter().all(|&x| x == 1.0));
        assert!(get("bert.encoder.layer.0.attention.self.key.bias")
            .data
            .iter()
            .all(|&x| x == 0.0));
        let w = &get("bert.encoder.layer.0.intermediate.dense.weight").data;
        let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
        assert!((std - 0.02).abs() < 0.005, "std {std}");
        assert_eq!(host, init_host(&c, 7), "the same seed gives the same parameters");
    }

    #[test]
    fn qkv_splits_into_the_names_it_stands_for() {
        let parts = qkv_parts("bert.encoder.layer.3.attention.self.qkv.bias").unwrap();
        assert_eq!(parts[1], "bert.encoder.layer.3.attention.self.key.bias");
        assert!(qkv_parts("bert.encoder.layer.3.attention.output.dense.bias").is_none());
        let t = HostTensor {
            shape: vec![6, 2],
            data: (0..12).map(|x| x as f32).collect(),
        };
        let split = split_qkv("encoder.layer.0.attention.self.qkv.weight", t);
        assert_eq!(split[2].0, "encoder.layer.0.attention.self.value.weight");
        assert_eq!(split[2].1.shape, vec![2, 2]);
        assert_eq!(split[2].1.data, vec![8.0, 9.0, 10.0, 11.0]);
    }

    fn config() -> BertConfig {
        let mut c = BertConfig::new(DIMS.vocab, DIMS.hidden, DIMS.layers, 2, DIMS.intermediate);
        c.max_position_embeddings = DIMS.max_positions;
        c
    }
}
