//! wasm-bindgen facade for the browser (thin, typed). Bytes in (the page or worker fetches or reads the
//! files), JSON-shaped values out; every error is a rejected promise whose `Error` carries the library's
//! message and a `code` (see [`Code`]). The npm package's hand-written ES module (web/npm/index.js) wraps
//! these classes: it fetches model directories, serialises calls and keeps training snapshots.
//!
//! - `bert`: `Bert` (load, fill-mask, embeddings, attention maps, a task head's pipeline, save).
//! - `pretrain`: `PretrainSession` (MLM + NSP pretraining from text, as `bert-wgpu pretrain`).
//! - `finetune`: `FinetuneSession` (a sequence-classification head on labelled rows, as `bert-wgpu finetune`).
//! - `corpus`: text in memory -> the instance stream, as the CLI's corpus reader.
//! - `bench`: the browser twin of `bert-wgpu bench` (forward and training tokens/s).
//! - `tune`: matmul kernels chosen by measurement, as natively (the package caches the choices).

mod bench;
mod bert;
mod finetune;
mod pretrain;
mod tune;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use serde::Serialize as _;
use wasm_bindgen::prelude::*;

use crate::error::kind_of;
use crate::io::ModelFiles;
use crate::{Error, ErrorKind, Gpu};

pub use bench::bench;
pub use bert::WebBert;
pub use finetune::FinetuneSession;
pub use pretrain::PretrainSession;
pub use tune::{matmul_cache_key, matmul_rates, tune_matmul, use_matmul_choices};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The files of a Hugging Face model directory, as bytes. A tokenizer is required: tokenizerJson or vocabTxt. */
export interface ModelFileBytes {
  config: Uint8Array;
  weights: Uint8Array;
  tokenizerJson?: Uint8Array;
  vocabTxt?: Uint8Array;
  tokenizerConfig?: Uint8Array;
  specialTokensMap?: Uint8Array;
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

/// What kind of failure an error is; JS sees it as `error.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    /// No WebGPU adapter or device.
    NoWebgpu,
    /// A model file that does not parse or does not match its config.
    BadFile,
    /// Bad arguments: a text without [MASK], unknown options, bad rows.
    Input,
    /// A model or batch larger than the adapter's limits.
    Limits,
    /// The GPU device was lost (driver reset, device destroyed); a new load opens a new device.
    DeviceLost,
    /// Any other GPU error.
    Gpu,
    /// Another call on the same object is still running.
    Busy,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::NoWebgpu => "no-webgpu",
            Code::BadFile => "bad-file",
            Code::Input => "input",
            Code::Limits => "limits",
            Code::DeviceLost => "device-lost",
            Code::Gpu => "gpu",
            Code::Busy => "busy",
        }
    }
}

thread_local! {
    /// One device per page (or worker), shared by every model loaded in it; replaced after a loss.
    static GPU: RefCell<Option<Rc<Gpu>>> = const { RefCell::new(None) };
    /// Why the current device was lost, once it was.
    static LOST: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Bumped on every new device, so that a loss reported late for an old device is ignored.
    static GENERATION: Cell<u32> = const { Cell::new(0) };
}

/// The reason the page's device was lost, if it was.
pub(crate) fn device_lost() -> Option<String> {
    LOST.with(|l| l.borrow().clone())
}

/// The page's device, opened on first use and again after a loss.
pub(crate) async fn gpu() -> Result<Rc<Gpu>, JsValue> {
    if device_lost().is_none() {
        if let Some(gpu) = GPU.with(|g| g.borrow().clone()) {
            return Ok(gpu);
        }
    }
    let gpu = Rc::new(Gpu::new().await.map_err(|e| js_error(Code::NoWebgpu, e))?);
    let generation = GENERATION.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    gpu.device.set_device_lost_callback(move |reason, message| {
        if GENERATION.with(|g| g.get()) == generation {
            LOST.with(|l| *l.borrow_mut() = Some(format!("{reason:?}: {message}")));
        }
    });
    LOST.with(|l| *l.borrow_mut() = None);
    GPU.with(|g| *g.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

/// An `Error` with the message and a `code` property. A lost device wins over whatever else failed; then
/// the kind of a library [`Error`] decides, and `code` is the call's own guess for input errors and for
/// errors from outside the library.
pub(crate) fn js_error<E: std::fmt::Display + 'static>(code: Code, e: E) -> JsValue {
    let mut message = e.to_string();
    let code = if let Some(reason) = device_lost() {
        message = format!("the GPU device was lost ({reason}); load the model again. Underlying error: {message}");
        Code::DeviceLost
    } else {
        match kind_of(&e) {
            ErrorKind::Input => code,
            ErrorKind::BadFile => Code::BadFile,
            ErrorKind::Limits => Code::Limits,
            ErrorKind::Gpu => Code::Gpu,
            ErrorKind::NoAdapter => Code::NoWebgpu,
        }
    };
    let error = js_sys::Error::new(&message);
    let _ = Reflect::set(&error, &"code".into(), &code.as_str().into());
    error.into()
}

/// A JSON-compatible JS value (plain objects and arrays) from anything serialisable.
pub(crate) fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_error(Code::Input, e))
}

/// A field as JS spells it: `seq_len` is `seqLen`.
pub(crate) fn camel(field: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in field.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// Options from a JS object (or undefined: the defaults); unknown keys are errors, so typos are caught.
pub(crate) fn options<T: serde::de::DeserializeOwned + Default>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    // Through a JSON value: serde_wasm_bindgen reads only a struct's known fields, and unknown keys must
    // be seen to be refused.
    let json: serde_json::Value =
        serde_wasm_bindgen::from_value(value.clone()).map_err(|e| js_error(Code::Input, format!("{what}: {e}")))?;
    serde_json::from_value(json).map_err(|e| js_error(Code::Input, format!("{what}: {e}")))
}

/// `files[key]` as bytes; `None` when absent, an error when present but not a Uint8Array.
fn bytes(files: &JsValue, key: &str) -> Result<Option<Vec<u8>>, Error> {
    let value = Reflect::get(files, &key.into()).map_err(|_| Error::new(format!("files.{key}: not readable")))?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.dyn_into::<Uint8Array>() {
        Ok(array) => Ok(Some(array.to_vec())),
        Err(_) => Err(Error::new(format!("files.{key}: expected a Uint8Array"))),
    }
}

/// The tokenizer files of `files` (config and weights left empty). One of tokenizerJson and vocabTxt is
/// required.
pub(crate) fn tokenizer_files(files: &JsValue) -> Result<ModelFiles, Error> {
    if !files.is_object() {
        return Err(Error::new(
            "expected an object of Uint8Arrays: { tokenizerJson or vocabTxt, ... }",
        ));
    }
    let out = ModelFiles {
        tokenizer_json: bytes(files, "tokenizerJson")?,
        vocab_txt: bytes(files, "vocabTxt")?,
        tokenizer_config: bytes(files, "tokenizerConfig")?,
        special_tokens_map: bytes(files, "specialTokensMap")?,
        ..Default::default()
    };
    if out.tokenizer_json.is_none() && out.vocab_txt.is_none() {
        return Err(Error::new("the model directory has no tokenizer.json or vocab.txt"));
    }
    Ok(out)
}

/// A whole model directory: config.json and model.safetensors plus the tokenizer files.
pub(crate) fn model_files(files: &JsValue) -> Result<ModelFiles, Error> {
    if !files.is_object() {
        return Err(Error::new(
            "Bert.load expects an object of Uint8Arrays: { config, weights, vocabTxt, ... }",
        ));
    }
    let required = |key: &str, file: &str| -> Result<Vec<u8>, Error> {
        bytes(files, key)?.ok_or_else(|| Error::new(format!("{file} is missing (files.{key})")))
    };
    let config = required("config", "config.json")?;
    let weights = required("weights", "model.safetensors")?;
    Ok(ModelFiles {
        config,
        weights,
        ..tokenizer_files(files)?
    })
}

/// The files of a model directory as a JS object { "config.json": Uint8Array, ... }.
pub(crate) fn files_to_js(files: &ModelFiles) -> JsValue {
    let object = Object::new();
    for (name, bytes) in files.named() {
        let _ = Reflect::set(&object, &name.into(), &Uint8Array::from(bytes));
    }
    object.into()
}

/// The adapter and device: name, backend and the limits and features asked for.
pub(crate) fn adapter_info(gpu: &Gpu) -> JsValue {
    let info = &gpu.info;
    let features: Vec<String> = gpu.features.iter_names().map(|(name, _)| name.to_string()).collect();
    let value = serde_json::json!({
        "name": info.name,
        "vendor": info.vendor,
        "device": info.device,
        "deviceType": format!("{:?}", info.device_type),
        "driver": info.driver,
        "driverInfo": info.driver_info,
        "backend": info.backend.to_str(),
        "subgroupMatmul": gpu.subgroups,
        "matmulKernel": gpu.matmul.borrow().default.name,
        "features": features,
        "subgroupMinSize": info.subgroup_min_size,
        "subgroupMaxSize": info.subgroup_max_size,
        "maxStorageBufferBindingSize": gpu.limits.max_storage_buffer_binding_size as f64,
        "maxBufferSize": gpu.limits.max_buffer_size as f64,
    });
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::NULL)
}

/// Opens (or reuses) the page's device and describes its adapter, without loading a model.
#[wasm_bindgen(js_name = openDevice, unchecked_return_type = "Promise<any>")]
pub fn open_device() -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let gpu = gpu().await?;
        Ok(adapter_info(&gpu))
    })
}

/// Why the page's device was lost (`undefined` while it works). A failure noticed before the browser
/// reports the loss is checked against this a moment later.
#[wasm_bindgen(js_name = deviceLost)]
pub fn device_lost_reason() -> Option<String> {
    device_lost()
}

/// Sharded weights (`model.safetensors.index.json` and the shards it names) joined into one safetensors
/// file, as the command line joins them (`io::safetensors::merge`): `names[i]` is the file name of
/// `shards[i]`.
#[wasm_bindgen(js_name = mergeSafetensors)]
pub fn merge_safetensors(
    #[wasm_bindgen(unchecked_param_type = "string[]")] names: js_sys::Array,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array[]")] shards: js_sys::Array,
) -> Result<Vec<u8>, JsValue> {
    let names: Vec<String> = names.iter().map(|n| n.as_string().unwrap_or_default()).collect();
    let bytes: Vec<Vec<u8>> = shards.iter().map(|s| js_sys::Uint8Array::new(&s).to_vec()).collect();
    let pairs: Vec<(&str, &[u8])> = names
        .iter()
        .map(String::as_str)
        .zip(bytes.iter().map(Vec::as_slice))
        .collect();
    crate::io::safetensors::merge(&pairs).map_err(|e| js_error(Code::BadFile, e))
}

/// The shard files a `model.safetensors.index.json` names, each once, checked as the command line checks
/// them (`io::hub::shard_files`: `.safetensors` files beside the index).
#[wasm_bindgen(js_name = shardFiles, unchecked_return_type = "string[]")]
pub fn shard_files(index: &[u8]) -> Result<Vec<String>, JsValue> {
    crate::io::hub::shard_files(index).map_err(|e| js_error(Code::BadFile, e))
}
