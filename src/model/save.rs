//! Writing a model back as the files of a Hugging Face model directory that transformers loads.

use super::weights::split_qkv;
use super::Bert;
use crate::error::Result;
use crate::gpu::Recorder;
use crate::io::safetensors::{self, HostTensor, SaveDtype};
use crate::io::ModelFiles;

impl Bert {
    /// The architecture name transformers should build for the heads this model has.
    pub fn architecture(&self) -> &'static str {
        let w = &self.weights;
        if let Some(t) = &w.task {
            return t.kind.architecture();
        }
        match (w.mlm.is_some(), w.nsp.is_some()) {
            (true, true) => "BertForPreTraining",
            (true, false) => "BertForMaskedLM",
            _ => "BertModel",
        }
    }

    /// config.json, model.safetensors (f32 or f16) and the tokenizer files as loaded. One submit reads
    /// every parameter back; the fused QKV weight is split into query, key and value.
    pub async fn save_files(&self, dtype: SaveDtype) -> Result<ModelFiles> {
        let named = self.weights.named();
        let rec = Recorder::new(&self.gpu);
        let ranges: Vec<(&wgpu::Buffer, u64, usize)> = named.iter().map(|(_, t)| (&t.buf, 0, t.len())).collect();
        let data = rec.submit_and_read(&ranges).await?;
        let mut tensors: Vec<(String, HostTensor)> = Vec::new();
        for ((name, t), values) in named.iter().zip(data) {
            tensors.extend(split_qkv(
                name,
                HostTensor {
                    shape: t.shape.clone(),
                    data: values,
                },
            ));
        }
        let refs: Vec<(&str, &HostTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let weights = safetensors::save(&refs, dtype, None)?;
        let mut config = self.config.clone();
        config.architectures = Some(vec![self.architecture().to_string()]);
        config.model_type = "bert".into();
        Ok(ModelFiles {
            config: config.to_json().into_bytes(),
            weights,
            ..self.tokenizer_files.clone()
        })
    }
}
