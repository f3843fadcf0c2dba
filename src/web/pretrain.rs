//! The JS class `PretrainSession`: masked-LM + next-sentence pretraining from a text, step by step, with the
//! settings, defaults, data pipeline and seeding of `bert-wgpu pretrain` (so both give the same losses).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::bert::{ModelRef, WebBert};
use super::{gpu, js_error, model_files, to_js, tokenizer_files, Code};
use crate::model::check_fits;
use crate::model::{weights, Bert, BertConfig, Weights};
use crate::tokenizer::BertTokenizer;
use crate::train::corpus::{Corpus, CorpusStats};
use crate::train::data::{batch_instances_padded, Instance, InstanceStream};
use crate::train::data::{MaskKind, MaskingVocab};
use crate::train::pretrain::{Pretrainer, StepMetrics};
use crate::train::recipe::{self, HeldOut, Recipe};
use crate::{Error, Result};
type JsResult<T> = std::result::Result<T, JsValue>;

/// `Trainer.pretrain`'s options: `config` (a fresh model: a preset name or config.json fields over tiny),
/// and the fields of [`Recipe`] in camelCase, with its defaults (the CLI's).
fn recipe_and_config(mut json: serde_json::Value) -> Result<(Recipe, Option<serde_json::Value>)> {
    let config = json.as_object_mut().and_then(|o| o.remove("config"));
    let recipe: Recipe = match json {
        serde_json::Value::Null => Recipe::default(),
        json => serde_json::from_value(json).map_err(|e| Error::new(format!("Trainer.pretrain options: {e}")))?,
    };
    recipe.check(super::camel)?;
    Ok((recipe, config))
}

/// A fresh model's config: a preset name, or config.json fields over tiny.
fn fresh_config(spec: &serde_json::Value, tokenizer: &BertTokenizer) -> Result<BertConfig> {
    let preset_config = |name: &str| {
        recipe::preset(name, 0)
            .ok_or_else(|| Error::new(format!("config: {name:?} is not a preset ({})", recipe::preset_names())))
    };
    let config = match spec {
        serde_json::Value::String(name) => preset_config(name)?,
        serde_json::Value::Object(fields) => {
            let base: serde_json::Value = serde_json::from_str(&preset_config("tiny")?.to_json())
                .map_err(|e| Error::new(format!("config: {e}")))?;
            let mut merged = base.as_object().cloned().unwrap_or_default();
            merged.extend(fields.clone());
            let json = serde_json::Value::Object(merged).to_string();
            BertConfig::from_json(json.as_bytes()).map_err(|e| Error::new(format!("config: {e}")))?
        }
        other => {
            return Err(Error::new(format!(
                "config: expected a preset name or an object, not {other}"
            )))
        }
    };
    recipe::fresh_config(config, tokenizer)
}

/// What the page shows of a training batch: its first sequence, token by token.
fn batch_view(instance: &Instance, tokenizer: &BertTokenizer) -> serde_json::Value {
    let token = |id: u32| tokenizer.id_to_token(id).unwrap_or_else(|| format!("#{id}"));
    let tokens: Vec<serde_json::Value> = instance
        .ids
        .iter()
        .enumerate()
        .map(|(p, &id)| {
            let mut t = serde_json::json!({ "token": token(id), "segment": instance.type_ids[p] });
            if let Some(m) = instance.masked_positions.iter().position(|&q| q == p) {
                t["kind"] = match instance.mask_kinds[m] {
                    MaskKind::Masked => "masked",
                    MaskKind::Random => "random",
                    MaskKind::Kept => "kept",
                }
                .into();
                t["original"] = token(instance.masked_labels[m]).into();
            }
            t
        })
        .collect();
    serde_json::json!({ "tokens": tokens, "isRandomNext": instance.is_random_next })
}

struct Data {
    corpus: Corpus,
    /// One pass over the corpus, counted at the start.
    pass: CorpusStats,
    held_out: HeldOut,
    stream: InstanceStream,
    tokenizer: BertTokenizer,
    batch_size: usize,
    seq: usize,
    total_steps: u64,
    tokens_seen: u64,
    last_batch: Option<serde_json::Value>,
}

/// Pretraining from a text on the page's device.
#[wasm_bindgen]
pub struct PretrainSession {
    trainer: Rc<RefCell<Pretrainer>>,
    data: Rc<RefCell<Data>>,
}

/// `{ step, loss, mlmLoss, nspLoss, mlmAccuracy, nspAccuracy, maskedTokens }`.
fn metrics_json(step: u64, m: &StepMetrics) -> serde_json::Value {
    serde_json::json!({
        "step": step,
        "loss": m.loss,
        "mlmLoss": m.mlm_loss,
        "nspLoss": m.nsp_loss,
        "mlmAccuracy": m.mlm_accuracy,
        "nspAccuracy": m.nsp_accuracy,
        "maskedTokens": m.masked_tokens,
    })
}

fn busy() -> JsValue {
    js_error(Code::Busy, "a training step is already running on this trainer")
}

#[wasm_bindgen]
impl PretrainSession {
    /// A session that continues `model` (the files of a BertForPreTraining directory), or pretrains a fresh
    /// model (`options.config`) with the tokenizer of `tokenizer` (tokenizer files), on `text`.
    #[wasm_bindgen(unchecked_return_type = "Promise<PretrainSession>")]
    pub fn create(model: JsValue, tokenizer: JsValue, text: String, options: JsValue) -> js_sys::Promise {
        future_to_promise(async move {
            let json: serde_json::Value = super::options(&options, "Trainer.pretrain options")?;
            let (recipe, config) = recipe_and_config(json).map_err(|e| js_error(Code::Input, e))?;
            let session = create(model, tokenizer, text, recipe, config).await?;
            Ok(session.into())
        })
    }

    /// One optimizer step (`accumulation` micro-batches): `{ step, loss, mlmLoss, nspLoss, mlmAccuracy,
    /// nspAccuracy, gradNorm, lr, maskedTokens, tokens, epoch, totalSteps }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn step(&self) -> js_sys::Promise {
        let (trainer, data) = (self.trainer.clone(), self.data.clone());
        future_to_promise(async move {
            let mut trainer = trainer.try_borrow_mut().map_err(|_| busy())?;
            let mut data = data.try_borrow_mut().map_err(|_| busy())?;
            let data = &mut *data;
            let pad = trainer.bert.tokenizer.pad_id();
            let mut tokens = 0usize;
            loop {
                let mut instances = Vec::with_capacity(data.batch_size);
                while instances.len() < data.batch_size {
                    let i = data
                        .corpus
                        .next_instance(&mut data.stream)
                        .map_err(|e| js_error(Code::Input, e))?;
                    instances.push(i);
                }
                data.last_batch = Some(batch_view(&instances[0], &data.tokenizer));
                tokens += instances.iter().map(Instance::len).sum::<usize>();
                let batch = batch_instances_padded(&instances, pad, data.seq).map_err(|e| js_error(Code::Input, e))?;
                let m = trainer.step(&batch, true).await.map_err(|e| js_error(Code::Gpu, e))?;
                if trainer.micro != 0 {
                    continue;
                }
                data.tokens_seen += tokens as u64;
                let m = m.expect("metrics were asked for");
                let mut v = metrics_json(trainer.step, &m);
                v["gradNorm"] = m.grad_norm.into();
                v["lr"] = m.lr.into();
                v["tokens"] = tokens.into();
                v["epoch"] = data.stream.epoch().into();
                v["totalSteps"] = data.total_steps.into();
                return to_js(&v);
            }
        })
    }

    /// The model being trained (shares its weights: predictions follow the training).
    #[wasm_bindgen(js_name = model)]
    pub fn model(&self) -> WebBert {
        WebBert {
            model: ModelRef::Pretraining(self.trainer.clone()),
        }
    }

    /// The first sequence of the last training batch: `{ tokens: [{ token, segment, kind?, original? }],
    /// isRandomNext }`, kind being "masked" ([MASK], 80%), "random" (a random token, 10%) or "kept" (10%).
    #[wasm_bindgen(js_name = lastBatch, unchecked_return_type = "any")]
    pub fn last_batch(&self) -> JsResult<JsValue> {
        let data = self.data.try_borrow().map_err(|_| busy())?;
        match &data.last_batch {
            Some(v) => to_js(v),
            None => Ok(JsValue::NULL),
        }
    }

    /// The held-out documents (every `holdoutEvery`-th, never trained on) scored as `bert-wgpu pretrain`
    /// scores them: `{ step, loss, mlmLoss, nspLoss, mlmAccuracy, nspAccuracy, maskedTokens }`, or null
    /// when nothing is held out.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn evaluate(&self) -> js_sys::Promise {
        let (trainer, data) = (self.trainer.clone(), self.data.clone());
        future_to_promise(async move {
            let trainer = trainer.try_borrow().map_err(|_| busy())?;
            let data = data.try_borrow().map_err(|_| busy())?;
            if data.held_out.is_empty() {
                return Ok(JsValue::NULL);
            }
            let m = data
                .held_out
                .evaluate(&trainer)
                .await
                .map_err(|e| js_error(Code::Gpu, e))?;
            to_js(&metrics_json(trainer.step, &m))
        })
    }

    /// `{ step, totalSteps, epoch, instancesPerEpoch, documents, sentences, corpusTokens, heldOutDocuments,
    /// tokensSeen, batchSize, seqLen }`.
    #[wasm_bindgen(unchecked_return_type = "any")]
    pub fn info(&self) -> JsResult<JsValue> {
        let trainer = self.trainer.try_borrow().map_err(|_| busy())?;
        let d = self.data.try_borrow().map_err(|_| busy())?;
        to_js(&serde_json::json!({
            "step": trainer.step,
            "totalSteps": d.total_steps,
            "epoch": d.stream.epoch(),
            "instancesPerEpoch": d.pass.instances,
            "documents": d.pass.documents,
            "sentences": d.pass.sentences,
            "corpusTokens": d.pass.tokens,
            "heldOutDocuments": d.pass.held_out_documents,
            "tokensSeen": d.tokens_seen,
            "batchSize": d.batch_size,
            "seqLen": d.seq,
        }))
    }
}

/// The session, once the settings are checked (before anything is allocated, as the CLI checks its flags).
async fn create(
    model: JsValue,
    tokenizer: JsValue,
    text: String,
    recipe: Recipe,
    config: Option<serde_json::Value>,
) -> JsResult<PretrainSession> {
    let input = |e: Error| js_error(Code::Input, e);
    let (batch_size, seq) = (recipe.batch_size, recipe.seq_len);
    let gpu = gpu().await?;
    gpu.set_limit_hint("batchSize or seqLen");
    let bert = if !model.is_undefined() && !model.is_null() {
        if config.is_some() {
            return Err(input(Error::new(
                "give a model to continue or a config for a fresh model, not both",
            )));
        }
        let files = model_files(&model).map_err(|e| js_error(Code::BadFile, e))?;
        let config = BertConfig::from_json(&files.config).map_err(|e| js_error(Code::BadFile, e))?;
        check_fits(&gpu, &config, batch_size, seq).map_err(|e| js_error(Code::Limits, e))?;
        Bert::load(gpu.clone(), &files).map_err(|e| js_error(Code::BadFile, e))?
    } else {
        let files = tokenizer_files(&tokenizer).map_err(|e| js_error(Code::BadFile, e))?;
        let tok = files.tokenizer().map_err(|e| js_error(Code::BadFile, e))?;
        let spec = config.unwrap_or_else(|| "tiny".into());
        let config = fresh_config(&spec, &tok).map_err(input)?;
        check_fits(&gpu, &config, batch_size, seq).map_err(|e| js_error(Code::Limits, e))?;
        let init = weights::init_host(&config, recipe.seed);
        let w = Weights::from_host(&gpu, &config, init, "initialisation").map_err(|e| js_error(Code::Gpu, e))?;
        Bert::from_parts(gpu.clone(), config, w, tok, files)
    };
    if seq > bert.config.max_position_embeddings {
        return Err(input(Error::new(format!(
            "seqLen {} exceeds the model's max_position_embeddings ({})",
            seq, bert.config.max_position_embeddings
        ))));
    }
    let vocab = MaskingVocab::from_tokenizer(&bert.tokenizer).map_err(input)?;
    let mut corpus = Corpus::text(text, &bert.tokenizer, recipe.holdout_every).map_err(input)?;
    let pass = corpus.count_pass(&vocab, &recipe.stream()).map_err(input)?;
    let held_out = recipe
        .held_out(&corpus.held_out, &vocab, bert.tokenizer.pad_id())
        .map_err(input)?;
    let total_steps = recipe.total_steps(pass.instances);
    let stream = InstanceStream::new(vocab, recipe.stream()).map_err(input)?;
    let tokenizer = bert.tokenizer.clone();
    let mut trainer = Pretrainer::new(
        bert,
        recipe.optimizer(total_steps),
        batch_size,
        seq,
        recipe.max_predictions,
        recipe.accumulation,
    )
    .map_err(|e| js_error(Code::Gpu, e))?;
    trainer.seed = recipe.seed;
    Ok(PretrainSession {
        trainer: Rc::new(RefCell::new(trainer)),
        data: Rc::new(RefCell::new(Data {
            corpus,
            pass,
            held_out,
            stream,
            tokenizer,
            batch_size,
            seq,
            total_steps,
            tokens_seen: 0,
            last_batch: None,
        })),
    })
}
