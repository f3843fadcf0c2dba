//! Loading: which parts a file has (prefix, pooler, heads), then every declared parameter taken from the
//! file by name with its shape checked and uploaded.

use std::collections::HashMap;

use super::tree::{qkv_parts, Dims, Param, Parts};
use super::{HeadKind, Weights};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::io::safetensors::{self, HostTensor};
use crate::model::config::BertConfig;

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
}

impl Source {
    fn new(tensors: Vec<(String, HostTensor)>, not_float: Vec<(String, &'static str)>, file: &str) -> Source {
        Source {
            tensors: tensors.into_iter().map(|(k, t)| (canonical(k), t)).collect(),
            not_float: not_float.into_iter().map(|(k, d)| (canonical(k), d)).collect(),
            file: file.into(),
        }
    }

    /// Whether the file holds `name`, whatever its dtype.
    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.not_float.contains_key(name)
    }

    /// The error for a needed tensor that is not among the float tensors.
    fn absent(&self, name: &str) -> Error {
        match self.not_float.get(name) {
            Some(dtype) => safetensors::wrong_dtype(&self.file, name, dtype),
            None => Error::new(format!("{}: missing tensor {name}", self.file)),
        }
    }

    /// Takes `name` and checks its shape.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<HostTensor> {
        let t = self.tensors.remove(name).ok_or_else(|| self.absent(name))?;
        if t.shape != shape {
            return Err(Error::new(format!(
                "{}: tensor {name} has shape {:?}, expected {shape:?}",
                self.file, t.shape
            )));
        }
        Ok(t)
    }

    /// Takes a declared parameter; the fused query/key/value is stacked from its three parts.
    fn take_param(&mut self, p: &Param) -> Result<HostTensor> {
        let Some(names) = qkv_parts(&p.name) else {
            return self.take(&p.name, &p.shape);
        };
        let mut part_shape = p.shape.clone();
        part_shape[0] /= 3;
        let mut data = Vec::with_capacity(p.len());
        for name in &names {
            data.extend(self.take(name, &part_shape)?.data);
        }
        Ok(HostTensor {
            shape: p.shape.clone(),
            data,
        })
    }

    /// The parts the file holds. `classifier.*` is a sequence head when the config says so (or, without
    /// `architectures`, when the model has a pooler) and a token head otherwise; its row count must match
    /// the config's label map when there is one. A decoder equal to the word embeddings is tied.
    fn parts(&self, c: &BertConfig) -> Result<Parts> {
        let prefixed = (self.tensors.keys())
            .chain(self.not_float.keys())
            .any(|k| k.starts_with("bert."));
        let root = if prefixed { "bert." } else { "" };
        let pooler = self.has(&format!("{root}pooler.dense.weight"));
        let mlm = self.has("cls.predictions.transform.dense.weight");
        let decoder = self.tensors.get("cls.predictions.decoder.weight");
        let word = self.tensors.get(&format!("{root}embeddings.word_embeddings.weight"));
        let untied_decoder = mlm
            && self.has("cls.predictions.decoder.weight")
            && match (decoder, word) {
                (Some(d), Some(w)) => d.data != w.data,
                _ => true,
            };
        let kind = if self.has("qa_outputs.weight") {
            Some(HeadKind::Span)
        } else if self.has("classifier.weight") {
            Some(match HeadKind::from_architectures(c) {
                Some(k @ (HeadKind::Sequence | HeadKind::Token)) => k,
                _ if pooler => HeadKind::Sequence,
                _ => HeadKind::Token,
            })
        } else {
            None
        };
        let task = match kind {
            Some(kind) => Some((kind, self.head_rows(c, kind)?)),
            None => None,
        };
        Ok(Parts {
            prefixed,
            pooler,
            mlm,
            untied_decoder,
            nsp: self.has("cls.seq_relationship.weight"),
            task,
        })
    }

    /// The outputs of the file's `kind` head: the rows of its weight, which must agree with the config.
    fn head_rows(&self, c: &BertConfig, kind: HeadKind) -> Result<usize> {
        let stem = kind.stem();
        let name = format!("{stem}.weight");
        let rows = match self.tensors.get(&name) {
            Some(t) => t.shape.first().copied().unwrap_or(0),
            None => return Err(self.absent(&name)),
        };
        let expected = match (
            kind.fixed_outputs(),
            c.extra.get("id2label").and_then(|m| m.as_object()),
        ) {
            (Some(n), _) => n,
            (None, Some(map)) => map.len(),
            (None, None) => rows,
        };
        if rows != expected {
            return Err(Error::new(format!(
                "{}: {stem}.weight has {rows} rows but config.json's id2label has {expected} labels",
                self.file
            )));
        }
        Ok(rows)
    }
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
        let parts = src.parts(c)?;
        Weights::declare(Dims::of(c), parts, &mut |p| {
            let host = src.take_param(&p)?;
            gpu.upload(&host.data, &host.shape, &p.name)
        })
    }
}
