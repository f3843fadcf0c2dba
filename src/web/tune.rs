//! Matmul kernels chosen by measurement in the browser, as the CLI chooses them (`ops::tune`). The npm
//! package keeps the choices in IndexedDB under `matmulCacheKey()` (web/npm/index.js, `prepareKernels`), so
//! an adapter is tuned once per browser profile.

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use std::rc::Rc;

use super::{gpu, js_error, to_js, Code};
use crate::gpu::matmul_gen::MatmulKernel;
use crate::model::BertConfig;
use crate::ops::tune::{self, MatmulShape};
use crate::{Error, Gpu};

/// The model and batch whose matmul shapes are tuned or measured.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct ShapeOptions {
    /// A model's config.json (as `Bert.config()` returns it) or a preset name (tiny ... base, vocabulary
    /// of 30522).
    config: serde_json::Value,
    batch: usize,
    seq: usize,
    /// Masked positions per sequence (0: no MLM head).
    masked: usize,
    /// Include the backward products.
    training: bool,
    /// Only these candidates (names); all that run here when absent.
    kernels: Option<Vec<String>>,
    /// Rounds per shape when measuring rates.
    reps: usize,
}

impl Default for ShapeOptions {
    fn default() -> Self {
        ShapeOptions {
            config: "mini".into(),
            batch: 8,
            seq: 128,
            masked: 20,
            training: true,
            kernels: None,
            reps: 2,
        }
    }
}

impl ShapeOptions {
    fn shapes(&self) -> Result<Vec<MatmulShape>, Error> {
        let config = match &self.config {
            serde_json::Value::String(name) => crate::train::recipe::preset(name, 30522)
                .ok_or_else(|| Error::new(format!("unknown preset {name:?} (tiny, mini, small, medium, base)")))?,
            value => BertConfig::from_json(value.to_string().as_bytes())?,
        };
        if self.batch == 0 || self.seq == 0 || self.seq % 4 != 0 {
            return Err(Error::new("batch must be at least 1 and seq a positive multiple of 4"));
        }
        let rows = self.batch * self.masked.min(self.seq);
        Ok(config.matmul_shapes(self.batch, self.seq, rows, self.training))
    }

    fn candidates(&self, gpu: &Gpu) -> Result<Vec<MatmulKernel>, Error> {
        let all = gpu.candidates();
        match &self.kernels {
            None => Ok(all),
            Some(names) => names
                .iter()
                .map(|n| {
                    all.iter()
                        .copied()
                        .find(|k| k.name == n)
                        .ok_or_else(|| Error::new(format!("matmul kernel {n:?} is unknown or cannot run here")))
                })
                .collect(),
        }
    }
}

/// The options, the page's device, the options' shapes and candidates.
async fn prepare(
    options: &JsValue,
    what: &str,
) -> Result<(ShapeOptions, Rc<Gpu>, Vec<MatmulShape>, Vec<MatmulKernel>), JsValue> {
    let o: ShapeOptions = super::options(options, what)?;
    let gpu = gpu().await?;
    let input = |e: Error| js_error(Code::Input, e);
    let shapes = o.shapes().map_err(input)?;
    let candidates = o.candidates(&gpu).map_err(input)?;
    Ok((o, gpu, shapes, candidates))
}

/// A progress callback `(done, total, label)` that calls the JS function, if there is one.
fn progress_to(on_progress: Option<js_sys::Function>) -> impl FnMut(usize, usize, &str) {
    move |done, total, what| {
        if let Some(f) = &on_progress {
            let _ = f.call3(
                &JsValue::NULL,
                &(done as u32).into(),
                &(total as u32).into(),
                &what.into(),
            );
        }
    }
}

/// The key under which this adapter's choices are cached: adapter, backend, driver, crate version and the
/// kernels' hash (a change in any of them voids the cache).
#[wasm_bindgen(js_name = matmulCacheKey, unchecked_return_type = "Promise<string>")]
pub fn matmul_cache_key() -> js_sys::Promise {
    future_to_promise(async move {
        let gpu = gpu().await?;
        Ok(tune::cache_key(&gpu).into())
    })
}

/// Puts cached choices (`{ class: kernel }`, as `tuneMatmul` returns them) into the device's plan; returns
/// how many were taken (unknown classes and kernels that cannot run here are skipped).
#[wasm_bindgen(js_name = useMatmulChoices, unchecked_return_type = "Promise<number>")]
pub fn use_matmul_choices(choices: JsValue) -> js_sys::Promise {
    future_to_promise(async move {
        let gpu = gpu().await?;
        let map: serde_json::Map<String, serde_json::Value> = super::options(&choices, "matmul choices")?;
        Ok((tune::load_choices(&gpu, &map) as u32).into())
    })
}

/// Tunes every shape class of the options' model that has no choice yet: checks the candidates against
/// the portable kernel, times the correct ones and keeps the quickest per class. `onProgress(done, total,
/// label)` is called before each class. Resolves to `{ key, choices, tuned, cached, excluded: [{ kernel,
/// why }] }`, where `choices` is the whole plan (what to cache).
#[wasm_bindgen(js_name = tuneMatmul, unchecked_return_type = "Promise<any>")]
pub fn tune_matmul(options: JsValue, on_progress: Option<js_sys::Function>) -> js_sys::Promise {
    future_to_promise(async move {
        let (_, gpu, shapes, candidates) = prepare(&options, "tune options").await?;
        let mut progress = progress_to(on_progress);
        let report = tune::tune(&gpu, &candidates, &shapes, tune::TUNE_MAX_FLOPS, 3, &mut progress)
            .await
            .map_err(|e| js_error(Code::Gpu, e))?;
        let excluded: Vec<serde_json::Value> = report
            .excluded
            .iter()
            .map(|(k, why)| serde_json::json!({ "kernel": k.name, "why": why }))
            .collect();
        to_js(&serde_json::json!({
            "key": tune::cache_key(&gpu),
            "choices": tune::choices_json(&gpu),
            "tuned": report.timings.len(),
            "cached": report.cached,
            "excluded": excluded,
        }))
    })
}

/// Every candidate's GFLOP/s on the options' shapes and auto's (the plan as it stands), as `bert-wgpu
/// bench` measures them. Resolves to `{ rows: [{ label, m, n, k, batch, candidates: [[name, gflops,
/// measured]], auto: [name, gflops] }], table: [line] }`; `table` is the CLI's text.
#[wasm_bindgen(js_name = matmulRates, unchecked_return_type = "Promise<any>")]
pub fn matmul_rates(options: JsValue, on_progress: Option<js_sys::Function>) -> js_sys::Promise {
    future_to_promise(async move {
        let (o, gpu, shapes, candidates) = prepare(&options, "rate options").await?;
        let mut progress = progress_to(on_progress);
        let rows = tune::rates(&gpu, &candidates, &shapes, o.reps.max(1), &mut progress)
            .await
            .map_err(|e| js_error(Code::Gpu, e))?;
        to_js(&serde_json::json!({ "rows": rows, "table": tune::rates_table(&rows) }))
    })
}
