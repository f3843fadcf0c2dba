//! The browser twin of `bert-wgpu bench`: forward and training-step throughput of a preset with random
//! weights on the page's device. Figures are returned (and printed by the page), never asserted.

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{adapter_info, gpu, js_error, to_js, Code};
use crate::gpu::Recorder;
use crate::io::ModelFiles;
use crate::model::check_fits;
use crate::model::{weights, Bert, Weights};
use crate::train::data::PretrainBatch;
use crate::train::optimizer::{AdamVariant, OptimizerConfig};
use crate::train::pretrain::Pretrainer;
use crate::Error;

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct BenchOptions {
    /// tiny, mini, small, medium or base (random weights, vocabulary of 30522 as bert-base-uncased).
    preset: String,
    batch: usize,
    seq: usize,
    /// Masked positions per sequence in the training step.
    masked: usize,
    /// Timed repetitions after one warm-up (best of).
    reps: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            preset: "mini".into(),
            batch: 8,
            seq: 128,
            masked: 20,
            reps: 3,
        }
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// `{ adapter, preset, batch, seq, forwardMs, forwardTokensPerSecond, trainStepMs, trainTokensPerSecond }`:
/// best of `reps` after a warm-up call that also builds the pipelines.
#[wasm_bindgen(unchecked_return_type = "Promise<any>")]
pub fn bench(options: JsValue) -> js_sys::Promise {
    future_to_promise(async move {
        let o: BenchOptions = super::options(&options, "bench options")?;
        let input = |e: Error| js_error(Code::Input, e);
        let Some(config) = crate::train::recipe::preset(&o.preset, 30522) else {
            return Err(input(Error::new(format!("bench: unknown preset {:?}", o.preset))));
        };
        if o.seq % 4 != 0 || o.seq < 8 || o.seq > 512 || o.batch == 0 || o.masked == 0 || o.masked >= o.seq {
            return Err(input(Error::new(
                "bench: seq must be a multiple of 4 in 8..=512, batch and masked at least 1, masked < seq",
            )));
        }
        let gpu = gpu().await?;
        check_fits(&gpu, &config, o.batch, o.seq).map_err(|e| js_error(Code::Limits, e))?;
        let files = ModelFiles {
            vocab_txt: Some(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n".to_vec()),
            ..Default::default()
        };
        let tokenizer = files.tokenizer().map_err(input)?;
        let w = Weights::from_host(&gpu, &config, weights::init_host(&config, 0), "random weights")
            .map_err(|e| js_error(Code::Gpu, e))?;
        let bert = Bert::from_parts(gpu.clone(), config.clone(), w, tokenizer, files);
        let train_batch = PretrainBatch::synthetic(config.vocab_size, o.batch, o.seq, o.masked);
        let gpu_err = |e: Error| js_error(Code::Gpu, e);

        let forward = || async {
            let mut rec = Recorder::new(&bert.gpu);
            let ws = bert.record_forward(&mut rec, &train_batch.batch)?;
            let t = now_ms();
            rec.submit_and_read(&[(&ws.pooled.buf, 0, 1)]).await?;
            Ok::<f64, Error>(now_ms() - t)
        };
        forward().await.map_err(gpu_err)?;
        let mut forward_ms = f64::INFINITY;
        for _ in 0..o.reps.max(1) {
            forward_ms = forward_ms.min(forward().await.map_err(gpu_err)?);
        }

        let opt = OptimizerConfig::new(AdamVariant::Torch, 1e-4, 10, 1000);
        let mut trainer = Pretrainer::new(bert, opt, o.batch, o.seq, o.masked, 1).map_err(gpu_err)?;
        trainer.step(&train_batch, true).await.map_err(gpu_err)?;
        let mut train_ms = f64::INFINITY;
        for _ in 0..o.reps.max(1) {
            let t = now_ms();
            trainer.step(&train_batch, true).await.map_err(gpu_err)?;
            train_ms = train_ms.min(now_ms() - t);
        }
        let tokens = (o.batch * o.seq) as f64;
        to_js(&serde_json::json!({
            "adapter": serde_wasm_bindgen::from_value::<serde_json::Value>(adapter_info(&gpu)).unwrap_or_default(),
            "preset": o.preset,
            "batch": o.batch,
            "seq": o.seq,
            "reps": o.reps.max(1),
            "forwardMs": forward_ms,
            "forwardTokensPerSecond": tokens / (forward_ms / 1e3),
            "trainStepMs": train_ms,
            "trainTokensPerSecond": tokens / (train_ms / 1e3),
        }))
    })
}
