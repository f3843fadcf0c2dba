//! wasm-bindgen facade for the browser (thin, typed): one JS class `Bert` over `model::Bert` and the
//! pipelines. Bytes in (the page or worker fetches the files), JSON-shaped values out; every error is a
//! rejected promise carrying the library's message.
//!
//! ```js
//! import init, { Bert } from './pkg/bert_wgpu.js';
//! await init();
//! const bert = await Bert.load({ config, weights, vocabTxt });   // Uint8Arrays
//! const top = await bert.fillMask('Paris is the [MASK] of France.', 5);
//! const [v] = await bert.embed(['a sentence'], { pooling: 'mean', normalize: true });
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use serde::Serialize as _;
use wasm_bindgen::prelude::*;

use crate::io::ModelFiles;
use crate::pipelines::{fill_mask_json, Pooling};
use crate::{Error, Gpu};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The files of a Hugging Face model directory, as bytes. A tokenizer is required: tokenizerJson or vocabTxt. */
export interface ModelFiles {
  /** config.json */
  config: Uint8Array;
  /** model.safetensors */
  weights: Uint8Array;
  /** tokenizer.json */
  tokenizerJson?: Uint8Array;
  /** vocab.txt */
  vocabTxt?: Uint8Array;
  /** tokenizer_config.json */
  tokenizerConfig?: Uint8Array;
  /** special_tokens_map.json */
  specialTokensMap?: Uint8Array;
}

/** One candidate for one [MASK], as transformers' fill-mask pipeline reports it. */
export interface FillMaskPrediction {
  score: number;
  token: number;
  token_str: string;
  sequence: string;
}

/**
 * transformers' pipeline shape: for one text, a list of predictions when it has one [MASK] and a list of
 * lists when it has several; for an array of texts, a list of those.
 */
export type FillMaskOutput = FillMaskPrediction[] | FillMaskPrediction[][] | (FillMaskPrediction[] | FillMaskPrediction[][])[];

export interface EmbedOptions {
  /** "mean" (default, as sentence-transformers) or "cls". */
  pooling?: "mean" | "cls";
  /** L2-normalise each vector (default false, as `bert-wgpu embed`). */
  normalize?: boolean;
}

/** The config.json fields of the loaded model that a page needs. */
export interface BertConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
}

export interface AdapterInfo {
  name: string;
  vendor: number;
  device: number;
  deviceType: string;
  driver: string;
  driverInfo: string;
  backend: string;
  /** Whether the subgroup matmul variant runs (subgroups of at least 8 lanes). */
  subgroupMatmul: boolean;
  /** wgpu feature names enabled on the device. */
  features: string[];
  subgroupMinSize: number;
  subgroupMaxSize: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// Runs once when the module is instantiated (wasm-bindgen exports it as `start`): panics (bugs, not
/// errors) reach the console instead of an opaque `unreachable` trap.
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| console_error(&format!("bert-wgpu panicked: {info}"))));
}

thread_local! {
    /// One device per page (or worker), shared by every model loaded in it.
    static GPU: RefCell<Option<Rc<Gpu>>> = const { RefCell::new(None) };
}

async fn gpu() -> Result<Rc<Gpu>, Error> {
    if let Some(gpu) = GPU.with(|g| g.borrow().clone()) {
        return Ok(gpu);
    }
    let gpu = Rc::new(Gpu::new().await?);
    GPU.with(|g| *g.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// `files[key]` as bytes; `None` when absent, an error when present but not a Uint8Array.
fn bytes(files: &JsValue, key: &str) -> Result<Option<Vec<u8>>, Error> {
    let value = Reflect::get(files, &key.into()).map_err(|_| Error(format!("files.{key}: not readable")))?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.dyn_into::<Uint8Array>() {
        Ok(array) => Ok(Some(array.to_vec())),
        Err(_) => Err(Error(format!("files.{key}: expected a Uint8Array"))),
    }
}

fn required(files: &JsValue, key: &str, file: &str) -> Result<Vec<u8>, Error> {
    bytes(files, key)?.ok_or_else(|| Error(format!("files.{key} ({file}) is required")))
}

fn model_files(files: &JsValue) -> Result<ModelFiles, Error> {
    if !files.is_object() {
        return Err(Error(
            "Bert.load expects an object of Uint8Arrays: { config, weights, vocabTxt, ... }".into(),
        ));
    }
    Ok(ModelFiles {
        config: required(files, "config", "config.json")?,
        weights: required(files, "weights", "model.safetensors")?,
        tokenizer_json: bytes(files, "tokenizerJson")?,
        vocab_txt: bytes(files, "vocabTxt")?,
        tokenizer_config: bytes(files, "tokenizerConfig")?,
        special_tokens_map: bytes(files, "specialTokensMap")?,
    })
}

/// A string or an array of strings.
fn text_list(value: &JsValue, what: &str) -> Result<Vec<String>, Error> {
    if let Some(text) = value.as_string() {
        return Ok(vec![text]);
    }
    if !Array::is_array(value) {
        return Err(Error(format!("{what}: expected a string or an array of strings")));
    }
    Array::from(value)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_string()
                .ok_or_else(|| Error(format!("{what}[{i}]: expected a string")))
        })
        .collect()
}

fn embed_options(options: Option<&Object>) -> Result<(Pooling, bool), Error> {
    let Some(options) = options else {
        return Ok((Pooling::Mean, false));
    };
    let get = |key: &str| Reflect::get(options, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let pooling = match get("pooling").as_string().as_deref() {
        None | Some("mean") => Pooling::Mean,
        Some("cls") => Pooling::Cls,
        Some(other) => {
            return Err(Error(format!(
                "embed: pooling must be \"mean\" or \"cls\", not {other:?}"
            )))
        }
    };
    let normalize = get("normalize").as_bool().unwrap_or(false);
    Ok((pooling, normalize))
}

/// A BERT model on the page's WebGPU device.
#[wasm_bindgen(js_name = Bert)]
pub struct WebBert {
    inner: Rc<crate::model::Bert>,
}

#[wasm_bindgen(js_class = Bert)]
impl WebBert {
    /// Opens the WebGPU device (once per page) and loads a model directory's files.
    #[wasm_bindgen(unchecked_return_type = "Promise<Bert>")]
    pub fn load(#[wasm_bindgen(unchecked_param_type = "ModelFiles")] files: JsValue) -> js_sys::Promise {
        wasm_bindgen_futures::future_to_promise(async move {
            let files = model_files(&files).map_err(js_error)?;
            let gpu = gpu().await.map_err(js_error)?;
            let bert = crate::model::Bert::load(gpu, &files).map_err(js_error)?;
            Ok(WebBert { inner: Rc::new(bert) }.into())
        })
    }

    /// Top-k predictions for every [MASK], in transformers' pipeline JSON shape.
    #[wasm_bindgen(js_name = fillMask, unchecked_return_type = "Promise<FillMaskOutput>")]
    pub fn fill_mask(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | string[]")] text: JsValue,
        #[wasm_bindgen(js_name = topK)] top_k: Option<u32>,
    ) -> js_sys::Promise {
        let bert = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let texts = text_list(&text, "fillMask: text").map_err(js_error)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let results = bert
                .fill_mask(&refs, top_k.unwrap_or(5) as usize)
                .await
                .map_err(js_error)?;
            let json = fill_mask_json(&results);
            // Whole texts (one text in, one value out) as in transformers, even when given as an array.
            let json = if text.as_string().is_none() && results.len() == 1 {
                serde_json::Value::Array(vec![json])
            } else {
                json
            };
            json.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
                .map_err(js_error)
        })
    }

    /// One vector per text: mean pooling unless told otherwise, normalised only when asked (as the CLI).
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array[]>")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EmbedOptions")] options: Option<Object>,
    ) -> js_sys::Promise {
        let bert = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let texts = text_list(&texts, "embed: texts").map_err(js_error)?;
            let (pooling, normalize) = embed_options(options.as_ref()).map_err(js_error)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = bert.embed(&refs, pooling, normalize).await.map_err(js_error)?;
            Ok(vectors
                .iter()
                .map(|v| Float32Array::from(v.as_slice()))
                .collect::<Array>()
                .into())
        })
    }

    /// What the device is: the adapter, its backend, and the limits and features asked for.
    #[wasm_bindgen(js_name = adapterInfo, unchecked_return_type = "AdapterInfo")]
    pub fn adapter_info(&self) -> JsValue {
        let gpu = &self.inner.gpu;
        let info = &gpu.info;
        let object = Object::new();
        let set = |key: &str, value: JsValue| {
            Reflect::set(&object, &key.into(), &value).expect("set on a plain object");
        };
        set("name", info.name.as_str().into());
        set("vendor", info.vendor.into());
        set("device", info.device.into());
        set("deviceType", format!("{:?}", info.device_type).into());
        set("driver", info.driver.as_str().into());
        set("driverInfo", info.driver_info.as_str().into());
        set("backend", info.backend.to_str().into());
        set("subgroupMatmul", gpu.subgroup_matmul.into());
        let features: Array = gpu.features.iter_names().map(|(name, _)| JsValue::from(name)).collect();
        set("features", features.into());
        set("subgroupMinSize", info.subgroup_min_size.into());
        set("subgroupMaxSize", info.subgroup_max_size.into());
        set(
            "maxStorageBufferBindingSize",
            (gpu.limits.max_storage_buffer_binding_size as f64).into(),
        );
        set("maxBufferSize", (gpu.limits.max_buffer_size as f64).into());
        object.into()
    }

    /// The model's config.json fields that a page needs, as a plain object.
    #[wasm_bindgen(unchecked_return_type = "BertConfig")]
    pub fn config(&self) -> JsValue {
        let c = &self.inner.config;
        let object = Object::new();
        for (key, value) in [
            ("vocab_size", c.vocab_size),
            ("hidden_size", c.hidden_size),
            ("num_hidden_layers", c.num_hidden_layers),
            ("num_attention_heads", c.num_attention_heads),
            ("intermediate_size", c.intermediate_size),
            ("max_position_embeddings", c.max_position_embeddings),
        ] {
            Reflect::set(&object, &key.into(), &(value as f64).into()).expect("set on a plain object");
        }
        object.into()
    }
}
