//! The JS class `Bert`: a model on the page's device, loaded from files or being trained by a session.

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Reflect};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{adapter_info, files_to_js, gpu, js_error, model_files, to_js, Code};
use crate::io::SaveDtype;
use crate::model::check_fits;
use crate::model::{Bert, BertConfig};
use crate::pipelines::{fill_mask_json, Pooling};
use crate::tasks::features::FeatureSettings;
use crate::tasks::pipeline::PredictInput;
use crate::train::finetune::Finetuner;
use crate::train::pretrain::Pretrainer;

/// Where a JS `Bert` finds its model: its own, or the one a training session is updating.
#[derive(Clone)]
pub(crate) enum ModelRef {
    Owned(Rc<Bert>),
    Pretraining(Rc<RefCell<Pretrainer>>),
    Finetuning(Rc<RefCell<Finetuner>>),
}

/// A borrowed model; for a training session, the borrow fails (busy) while a step runs.
pub(crate) enum BertGuard<'a> {
    Owned(&'a Bert),
    Pretraining(std::cell::Ref<'a, Pretrainer>),
    Finetuning(std::cell::Ref<'a, Finetuner>),
}

impl Deref for BertGuard<'_> {
    type Target = Bert;
    fn deref(&self) -> &Bert {
        match self {
            BertGuard::Owned(b) => b,
            BertGuard::Pretraining(t) => &t.bert,
            BertGuard::Finetuning(t) => &t.bert,
        }
    }
}

impl ModelRef {
    pub(crate) fn get(&self) -> Result<BertGuard<'_>, JsValue> {
        let busy = |_| {
            js_error(
                Code::Busy,
                "the model is being trained: wait for the training step to finish",
            )
        };
        match self {
            ModelRef::Owned(b) => Ok(BertGuard::Owned(b)),
            ModelRef::Pretraining(t) => t.try_borrow().map(BertGuard::Pretraining).map_err(busy),
            ModelRef::Finetuning(t) => t.try_borrow().map(BertGuard::Finetuning).map_err(busy),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct FillMaskOptions {
    top_k: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct EmbedOptions {
    pooling: Option<String>,
    normalize: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct PredictOptions {
    /// Inputs per GPU batch (as `bert-wgpu predict --batch-size`).
    batch_size: Option<usize>,
    /// QA: tokens per window (capped by the model).
    max_length: Option<usize>,
    /// QA: tokens shared by consecutive windows.
    doc_stride: Option<usize>,
    /// QA: the longest answer, in tokens.
    max_answer_length: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct SaveOptions {
    dtype: Option<String>,
}

/// A string or an array of strings; `single` says which it was.
fn text_list(value: &JsValue, what: &str) -> Result<(Vec<String>, bool), JsValue> {
    if let Some(text) = value.as_string() {
        return Ok((vec![text], true));
    }
    if !Array::is_array(value) {
        return Err(js_error(
            Code::Input,
            format!("{what}: expected a string or an array of strings"),
        ));
    }
    let texts = Array::from(value)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_string()
                .ok_or_else(|| js_error(Code::Input, format!("{what}[{i}]: expected a string")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if texts.is_empty() {
        return Err(js_error(Code::Input, format!("{what}: no text given")));
    }
    Ok((texts, false))
}

/// One input of `predict`: a string or `{ text, text_pair? }` (`textPair` also accepted) for the
/// classification heads, `{ question, context }` for question answering.
fn predict_input(v: &serde_json::Value, at: &str) -> Result<PredictInput, JsValue> {
    let bad = |what: String| js_error(Code::Input, format!("predict: inputs{at}{what}"));
    let string = |names: &[&str]| -> Result<Option<String>, JsValue> {
        match names.iter().find_map(|n| v.get(*n)) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!(".{}: expected a string, not {other}", names[0]))),
        }
    };
    let expected = "expected a string, { text, text_pair } or { question, context }";
    match v {
        serde_json::Value::String(s) => Ok(PredictInput::Text {
            text: s.clone(),
            text_pair: None,
        }),
        serde_json::Value::Object(_) => match (string(&["text"])?, string(&["question"])?, string(&["context"])?) {
            (Some(text), None, None) => Ok(PredictInput::Text {
                text,
                text_pair: string(&["text_pair", "textPair"])?,
            }),
            (None, Some(question), Some(context)) => Ok(PredictInput::Question { question, context }),
            _ => Err(bad(format!(": {expected}"))),
        },
        other => Err(bad(format!(": {expected}, not {other}"))),
    }
}

/// A BERT model on the page's WebGPU device.
#[wasm_bindgen(js_name = Bert)]
pub struct WebBert {
    pub(crate) model: ModelRef,
}

#[wasm_bindgen(js_class = Bert)]
impl WebBert {
    /// Opens the WebGPU device (once per page) and loads a model directory's files.
    #[wasm_bindgen(unchecked_return_type = "Promise<Bert>")]
    pub fn load(#[wasm_bindgen(unchecked_param_type = "ModelFileBytes")] files: JsValue) -> js_sys::Promise {
        future_to_promise(async move {
            let files = model_files(&files).map_err(|e| js_error(Code::BadFile, e))?;
            let config = BertConfig::from_json(&files.config).map_err(|e| js_error(Code::BadFile, e))?;
            let gpu = gpu().await?;
            gpu.set_limit_hint(""); // the page's device is shared: no hint of an earlier training call
            check_fits(
                &gpu,
                &config,
                1,
                config.max_position_embeddings.min(512).next_multiple_of(4),
            )
            .map_err(|e| js_error(Code::Limits, e))?;
            let bert = Bert::load(gpu, &files).map_err(|e| js_error(Code::BadFile, e))?;
            Ok(WebBert {
                model: ModelRef::Owned(Rc::new(bert)),
            }
            .into())
        })
    }

    /// For every [MASK] of every text, the top-k predictions: one list per mask (`masks`), plus
    /// transformers' pipeline shape (`pipeline`).
    #[wasm_bindgen(js_name = fillMask, unchecked_return_type = "Promise<any>")]
    pub fn fill_mask(&self, text: JsValue, options: JsValue) -> js_sys::Promise {
        let model = self.model.clone();
        future_to_promise(async move {
            let (texts, _) = text_list(&text, "fillMask: text")?;
            let opts: FillMaskOptions = super::options(&options, "fillMask options")?;
            let top_k = opts.top_k.unwrap_or(5);
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let bert = model.get()?;
            let results = bert
                .fill_mask(&refs, top_k)
                .await
                .map_err(|e| js_error(Code::Input, e))?;
            let pipeline = fill_mask_json(&results);
            to_js(&serde_json::json!({ "masks": results, "pipeline": pipeline }))
        })
    }

    /// The loaded task head's pipeline on one input or an array of them, in transformers' JSON shapes:
    /// text-classification (a text, or `{ text, text_pair }`: every label with its score, best first),
    /// token-classification (a text: its entities) or question-answering (`{ question, context }`: the
    /// best answer, or null). One input gives one result, an array one result per input.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn predict(&self, inputs: JsValue, options: JsValue) -> js_sys::Promise {
        let model = self.model.clone();
        future_to_promise(async move {
            let opts: PredictOptions = super::options(&options, "predict options")?;
            let value: serde_json::Value = serde_wasm_bindgen::from_value(inputs)
                .map_err(|e| js_error(Code::Input, format!("predict: inputs: {e}")))?;
            let (items, single) = match value {
                serde_json::Value::Array(items) => (items, false),
                other => (vec![other], true),
            };
            if items.is_empty() {
                return Err(js_error(Code::Input, "predict: no inputs given"));
            }
            let inputs = (items.iter().enumerate())
                .map(|(i, v)| predict_input(v, &if single { String::new() } else { format!("[{i}]") }))
                .collect::<Result<Vec<_>, _>>()?;
            let defaults = FeatureSettings::default();
            let settings = FeatureSettings {
                max_len: opts.max_length.unwrap_or(defaults.max_len),
                doc_stride: opts.doc_stride.unwrap_or(defaults.doc_stride),
                max_answer_len: opts.max_answer_length.unwrap_or(defaults.max_answer_len),
            };
            let bert = model.get()?;
            let mut outputs = (bert.predict(&inputs, opts.batch_size.unwrap_or(16), settings).await).map_err(|e| {
                js_error(
                    Code::Input,
                    crate::Error {
                        message: format!("predict: {}", e.message),
                        ..e
                    },
                )
            })?;
            if single {
                to_js(&outputs.remove(0))
            } else {
                to_js(&outputs)
            }
        })
    }

    /// The task head's label names (config.json's id2label, else LABEL_<i>); null without a task head.
    #[wasm_bindgen(unchecked_return_type = "string[] | null")]
    pub fn labels(&self) -> Result<JsValue, JsValue> {
        let bert = self.model.get()?;
        if bert.weights.task.is_none() {
            return Ok(JsValue::NULL);
        }
        let labels = bert.label_map().map_err(|e| js_error(Code::Input, e))?;
        to_js(&labels.names)
    }

    /// One vector per text: mean pooling unless told otherwise, normalised only when asked (as the CLI).
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array[]>")]
    pub fn embed(&self, texts: JsValue, options: JsValue) -> js_sys::Promise {
        let model = self.model.clone();
        future_to_promise(async move {
            let (texts, _) = text_list(&texts, "embed: texts")?;
            let opts: EmbedOptions = super::options(&options, "embed options")?;
            let pooling = match opts.pooling.as_deref() {
                None | Some("mean") => Pooling::Mean,
                Some("cls") => Pooling::Cls,
                Some(other) => {
                    return Err(js_error(
                        Code::Input,
                        format!("embed: pooling must be \"mean\" or \"cls\", not {other:?}"),
                    ))
                }
            };
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let bert = model.get()?;
            let vectors = bert
                .embed(&refs, pooling, opts.normalize)
                .await
                .map_err(|e| js_error(Code::Input, e))?;
            Ok(vectors
                .iter()
                .map(|v| Float32Array::from(v.as_slice()))
                .collect::<Array>()
                .into())
        })
    }

    /// The attention probabilities of one text: `{ tokens, layers, heads, attention }` where
    /// `attention[layer][head]` is a Float32Array of n x n (row: query token, column: key token).
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn attention(&self, text: String) -> js_sys::Promise {
        let model = self.model.clone();
        future_to_promise(async move {
            let bert = model.get()?;
            let maps = bert
                .attention_maps(&text, None)
                .await
                .map_err(|e| js_error(Code::Input, e))?;
            let attention: Array = (maps.attention.iter())
                .map(|layer| {
                    (layer.iter())
                        .map(|head| JsValue::from(Float32Array::from(head.as_slice())))
                        .collect::<Array>()
                })
                .collect();
            let out = Object::new();
            let set = |k: &str, v: JsValue| Reflect::set(&out, &k.into(), &v).map(|_| ());
            set("tokens", to_js(&maps.tokens)?)?;
            set("segments", to_js(&maps.segments)?)?;
            set("layers", (maps.attention.len() as u32).into())?;
            set("heads", (bert.config.num_attention_heads as u32).into())?;
            set("attention", attention.into())?;
            Ok(out.into())
        })
    }

    /// The files of a Hugging Face model directory: `{ "config.json": Uint8Array, "model.safetensors": ...,
    /// tokenizer files }`; weights in f32 unless `{ dtype: "f16" }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Record<string, Uint8Array>>")]
    pub fn save(&self, options: JsValue) -> js_sys::Promise {
        let model = self.model.clone();
        future_to_promise(async move {
            let opts: SaveOptions = super::options(&options, "save options")?;
            let dtype = match opts.dtype.as_deref() {
                None | Some("f32") => SaveDtype::F32,
                Some("f16") => SaveDtype::F16,
                Some(other) => {
                    return Err(js_error(
                        Code::Input,
                        format!("save: dtype must be \"f32\" or \"f16\", not {other:?}"),
                    ))
                }
            };
            let bert = model.get()?;
            let files = bert.save_files(dtype).await.map_err(|e| js_error(Code::Gpu, e))?;
            Ok(files_to_js(&files))
        })
    }

    /// What the device is: the adapter, its backend, and the limits and features asked for.
    #[wasm_bindgen(js_name = adapterInfo, unchecked_return_type = "any")]
    pub fn adapter_info(&self) -> Result<JsValue, JsValue> {
        Ok(adapter_info(&self.model.get()?.gpu))
    }

    /// config.json of the model, as an object.
    #[wasm_bindgen(unchecked_return_type = "any")]
    pub fn config(&self) -> Result<JsValue, JsValue> {
        let bert = self.model.get()?;
        let value: serde_json::Value =
            serde_json::from_str(&bert.config.to_json()).map_err(|e| js_error(Code::Input, e))?;
        to_js(&value)
    }

    /// The heads the model has, as transformers' class name (BertForPreTraining, BertForMaskedLM, BertModel,
    /// BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering).
    #[wasm_bindgen]
    pub fn architecture(&self) -> Result<String, JsValue> {
        Ok(self.model.get()?.architecture().to_string())
    }

    /// Token strings of a text as the model's tokenizer splits it ([CLS] ... [SEP]).
    #[wasm_bindgen(unchecked_return_type = "string[]")]
    pub fn tokenize(&self, text: String) -> Result<JsValue, JsValue> {
        let bert = self.model.get()?;
        let enc = bert
            .tokenizer
            .encode(&text, None)
            .map_err(|e| js_error(Code::Input, e))?;
        let tokens: Vec<String> = enc
            .ids
            .iter()
            .map(|&id| bert.tokenizer.id_to_token(id).unwrap_or_default())
            .collect();
        to_js(&tokens)
    }
}
