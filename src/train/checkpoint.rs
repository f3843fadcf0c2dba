//! Training state beside a checkpoint: the optimizer moments (safetensors, by Hugging Face names) and the
//! position of the run, so that `--resume` continues exactly.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::data::StreamState;
use super::optimizer::{Optimizer, OptimizerConfig};
use super::pretrain::Pretrainer;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Recorder};
use crate::io::safetensors::{self, HostTensor, SaveDtype};

/// trainer_state.json: where the run stands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Optimizer steps taken.
    pub step: u64,
    pub optimizer: OptimizerConfig,
    /// The run's seed (data order, masks and dropout derive from it and the step).
    pub seed: u64,
    /// Where the instance stream stands (the next instance to train on).
    pub stream: StreamState,
    pub batch_size: usize,
    pub seq: usize,
    pub max_predictions: usize,
    pub accumulation: usize,
}

impl Optimizer {
    /// optimizer.safetensors: `m.<name>` and `v.<name>` for every parameter (fused QKV names as in memory).
    pub async fn state_bytes(&self, gpu: &Gpu) -> Result<Vec<u8>> {
        let (m, v) = (self.m.named(), self.v.named());
        let rec = Recorder::new(gpu);
        let reads: Vec<(&wgpu::Buffer, u64, usize)> = m.iter().chain(&v).map(|(_, t)| (&t.buf, 0, t.len())).collect();
        let data = rec.submit_and_read(&reads).await?;
        let names = m
            .iter()
            .map(|(n, _)| format!("m.{n}"))
            .chain(v.iter().map(|(n, _)| format!("v.{n}")));
        let shapes = m.iter().chain(&v).map(|(_, t)| t.shape.clone());
        let tensors: Vec<(String, HostTensor)> = names
            .zip(shapes.zip(data))
            .map(|(n, (shape, data))| (n, HostTensor { shape, data }))
            .collect();
        let refs: Vec<(&str, &HostTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        safetensors::save(&refs, SaveDtype::F32, None)
    }

    /// Restores the moments written by [`Self::state_bytes`].
    pub fn load_state(&self, gpu: &Gpu, bytes: &[u8]) -> Result<()> {
        let file = "optimizer.safetensors";
        let mut tensors: HashMap<String, HostTensor> = safetensors::load(bytes, file)?.into_iter().collect();
        for (prefix, moments) in [("m", &self.m), ("v", &self.v)] {
            for (name, t) in moments.named() {
                let key = format!("{prefix}.{name}");
                let host = tensors
                    .remove(&key)
                    .ok_or_else(|| safetensors::missing_float(bytes, file, &key))?;
                if host.shape != t.shape {
                    return Err(Error::new(format!(
                        "{file}: tensor {key} has shape {:?}, expected {:?}",
                        host.shape, t.shape
                    )));
                }
                gpu.queue.write_buffer(&t.buf, 0, bytemuck::cast_slice(&host.data));
            }
        }
        Ok(())
    }
}

impl Pretrainer {
    /// The optimizer state (see [`Optimizer::state_bytes`]), between updates only.
    pub async fn optimizer_state(&self) -> Result<Vec<u8>> {
        if self.micro != 0 {
            return Err(Error::new("the optimizer state is saved between updates only"));
        }
        self.optimizer.state_bytes(&self.bert.gpu).await
    }

    /// Restores the optimizer state and the step count.
    pub fn load_optimizer_state(&mut self, bytes: &[u8], step: u64) -> Result<()> {
        self.optimizer.config.check_resumed_step(step)?;
        self.optimizer.load_state(&self.bert.gpu, bytes)?;
        self.step = step;
        self.micro = 0;
        Ok(())
    }
}
