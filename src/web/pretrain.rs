//! The JS class `PretrainSession`: masked-LM + next-sentence pretraining from a text, step by step, with the
//! settings, defaults, data pipeline and seeding of `bert-wgpu pretrain` (so both give the same losses).

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::bert::{ModelRef, WebBert};
use super::corpus::TextCorpus;
use super::{gpu, js_error, model_files, to_js, tokenizer_files, Code};
use crate::model::check_fits;
use crate::model::{weights, Bert, BertConfig, Weights};
use crate::tokenizer::BertTokenizer;
use crate::train::data::{batch_instances_padded, Instance, InstanceStream, PretrainingOptions, StreamOptions};
use crate::train::masking::{MaskKind, MaskingVocab};
use crate::train::optimizer::{OptimizerConfig, Variant};
use crate::train::pretrain::Pretrainer;
use crate::{Error, Result};
type JsResult<T> = std::result::Result<T, JsValue>;

/// The options of `Trainer.pretrain`, with the CLI's defaults.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct PretrainOptions {
    /// A fresh model: a preset name (tiny, mini, small, medium, base) or config.json fields over tiny.
    config: Option<serde_json::Value>,
    batch_size: usize,
    seq_len: usize,
    max_predictions: usize,
    lr: f64,
    warmup: Option<u64>,
    weight_decay: f64,
    accumulation: usize,
    optimizer: String,
    seed: u64,
    whole_word_masking: bool,
    short_seq_prob: f64,
    /// Optimizer steps of the schedule (default: `epochs` passes over the text, or one).
    steps: Option<u64>,
    epochs: Option<f64>,
    /// Hold out every N-th document (0: none).
    holdout_every: u64,
}

impl Default for PretrainOptions {
    fn default() -> Self {
        PretrainOptions {
            config: None,
            batch_size: 8,
            seq_len: 128,
            max_predictions: 20,
            lr: 1e-4,
            warmup: None,
            weight_decay: 0.01,
            accumulation: 1,
            optimizer: "torch".into(),
            seed: 12345,
            whole_word_masking: false,
            short_seq_prob: 0.1,
            steps: None,
            epochs: None,
            holdout_every: 0,
        }
    }
}

/// Google's BERT miniatures and BERT-base, as the CLI's presets (heads of 64, FFN of 4 x hidden), with a
/// vocabulary of `vocab`.
pub(crate) fn preset(name: &str, vocab: usize) -> Option<BertConfig> {
    let (layers, hidden) = match name {
        "tiny" => (2, 128),
        "mini" => (4, 256),
        "small" => (4, 512),
        "medium" => (8, 512),
        "base" => (12, 768),
        _ => return None,
    };
    Some(BertConfig::new(vocab, hidden, layers, hidden / 64, 4 * hidden))
}

/// A fresh model's config as `bert-wgpu pretrain --config` makes it.
fn fresh_config(spec: &serde_json::Value, tokenizer: &BertTokenizer) -> Result<BertConfig> {
    let preset_config = |name: &str| {
        preset(name, 0).ok_or_else(|| {
            Error(format!(
                "config: {name:?} is not a preset (tiny, mini, small, medium, base)"
            ))
        })
    };
    let mut c = match spec {
        serde_json::Value::String(name) => preset_config(name)?,
        serde_json::Value::Object(fields) => {
            let base: serde_json::Value =
                serde_json::from_str(&preset_config("tiny")?.to_json()).map_err(|e| Error(format!("config: {e}")))?;
            let mut merged = base.as_object().cloned().unwrap_or_default();
            merged.extend(fields.clone());
            let json = serde_json::Value::Object(merged).to_string();
            BertConfig::from_json(json.as_bytes()).map_err(|e| Error(format!("config: {e}")))?
        }
        other => {
            return Err(Error(format!(
                "config: expected a preset name or an object, not {other}"
            )))
        }
    };
    c.vocab_size = tokenizer.vocab_size();
    c.pad_token_id = tokenizer.pad_id() as usize;
    c.architectures = Some(vec!["BertForPreTraining".into()]);
    c.validate()?;
    Ok(c)
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
    corpus: TextCorpus,
    stream: InstanceStream,
    tokenizer: BertTokenizer,
    batch_size: usize,
    seq: usize,
    total_steps: u64,
    instances_per_epoch: u64,
    tokens_seen: u64,
    last_batch: Option<serde_json::Value>,
}

/// Pretraining from a text on the page's device.
#[wasm_bindgen]
pub struct PretrainSession {
    trainer: Rc<RefCell<Pretrainer>>,
    data: Rc<RefCell<Data>>,
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
            let opts: PretrainOptions = super::options(&options, "Trainer.pretrain options")?;
            let session = create(model, tokenizer, text, opts).await?;
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
                return to_js(&serde_json::json!({
                    "step": trainer.step,
                    "loss": m.loss,
                    "mlmLoss": m.mlm_loss,
                    "nspLoss": m.nsp_loss,
                    "mlmAccuracy": m.mlm_accuracy,
                    "nspAccuracy": m.nsp_accuracy,
                    "gradNorm": m.grad_norm,
                    "lr": m.lr,
                    "maskedTokens": m.masked_tokens,
                    "tokens": tokens,
                    "epoch": data.stream.epoch(),
                    "totalSteps": data.total_steps,
                }));
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
            "instancesPerEpoch": d.instances_per_epoch,
            "documents": d.corpus.documents.len(),
            "sentences": d.corpus.sentences,
            "corpusTokens": d.corpus.tokens,
            "heldOutDocuments": d.corpus.held_out.len(),
            "tokensSeen": d.tokens_seen,
            "batchSize": d.batch_size,
            "seqLen": d.seq,
        }))
    }
}

async fn create(model: JsValue, tokenizer: JsValue, text: String, o: PretrainOptions) -> JsResult<PretrainSession> {
    let input = |e: Error| js_error(Code::Input, e);
    if o.seq_len % 4 != 0 || o.seq_len < 8 {
        return Err(input(Error(format!(
            "seqLen {}: must be a multiple of 4 and at least 8",
            o.seq_len
        ))));
    }
    if o.batch_size == 0 || o.max_predictions == 0 || o.accumulation == 0 {
        return Err(input(Error(
            "batchSize, maxPredictions and accumulation must be at least 1".into(),
        )));
    }
    if o.max_predictions > o.seq_len {
        return Err(input(Error(format!(
            "maxPredictions {}: must be at most seqLen ({})",
            o.max_predictions, o.seq_len
        ))));
    }
    // The optimizer's domains (lr, weightDecay) before anything is allocated, as the CLI checks its flags.
    OptimizerConfig::check_options(o.lr, o.weight_decay, None, |field| match field {
        "weight_decay" => "weightDecay".into(),
        field => field.into(),
    })
    .map_err(input)?;
    let variant = match o.optimizer.as_str() {
        "torch" => Variant::Torch,
        "google" => Variant::Google,
        other => {
            return Err(input(Error(format!(
                "optimizer must be \"torch\" or \"google\", not {other:?}"
            ))))
        }
    };
    let gpu = gpu().await?;
    gpu.set_limit_hint("batchSize or seqLen");
    let bert = if !model.is_undefined() && !model.is_null() {
        if o.config.is_some() {
            return Err(input(Error(
                "give a model to continue or a config for a fresh model, not both".into(),
            )));
        }
        let files = model_files(&model).map_err(|e| js_error(Code::BadFile, e))?;
        let config = BertConfig::from_json(&files.config).map_err(|e| js_error(Code::BadFile, e))?;
        check_fits(&gpu, &config, o.batch_size, o.seq_len).map_err(|e| js_error(Code::Limits, e))?;
        Bert::load(gpu.clone(), &files).map_err(|e| js_error(Code::BadFile, e))?
    } else {
        let files = tokenizer_files(&tokenizer).map_err(|e| js_error(Code::BadFile, e))?;
        let tok = files.tokenizer().map_err(|e| js_error(Code::BadFile, e))?;
        let spec = o.config.clone().unwrap_or_else(|| "tiny".into());
        let config = fresh_config(&spec, &tok).map_err(input)?;
        check_fits(&gpu, &config, o.batch_size, o.seq_len).map_err(|e| js_error(Code::Limits, e))?;
        let init = weights::init_host(&config, o.seed);
        let w = Weights::from_host(&gpu, &config, init, "initialisation").map_err(|e| js_error(Code::Gpu, e))?;
        Bert::from_parts(gpu.clone(), config, w, tok, files)
    };
    if o.seq_len > bert.config.max_position_embeddings {
        return Err(input(Error(format!(
            "seqLen {} exceeds the model's max_position_embeddings ({})",
            o.seq_len, bert.config.max_position_embeddings
        ))));
    }
    let vocab = MaskingVocab::from_tokenizer(&bert.tokenizer).map_err(input)?;
    let pretraining = PretrainingOptions {
        max_seq_length: o.seq_len,
        max_predictions_per_seq: o.max_predictions,
        short_seq_prob: o.short_seq_prob,
        whole_word_masking: o.whole_word_masking,
        ..Default::default()
    };
    let stream_options = StreamOptions {
        pretraining,
        seed: o.seed,
        ..Default::default()
    };
    let corpus = TextCorpus::new(&text, &bert.tokenizer, o.holdout_every).map_err(input)?;
    let instances_per_epoch = corpus.instances_per_epoch(&vocab, &stream_options).map_err(input)?;
    let per_step = (o.batch_size * o.accumulation) as u64;
    let total_steps = match (o.steps, o.epochs) {
        (Some(s), _) => s.max(1),
        (None, Some(e)) if e > 0.0 => ((instances_per_epoch as f64 * e) / per_step as f64).ceil().max(1.0) as u64,
        (None, Some(e)) => return Err(input(Error(format!("epochs must be positive, not {e}")))),
        (None, None) => instances_per_epoch.div_ceil(per_step).max(1),
    };
    let warmup = o.warmup.unwrap_or(total_steps / 100);
    let mut opt = OptimizerConfig::new(variant, o.lr, warmup, total_steps);
    opt.weight_decay = o.weight_decay;
    let stream = InstanceStream::new(vocab, stream_options).map_err(input)?;
    let tokenizer = bert.tokenizer.clone();
    let mut trainer = Pretrainer::new(bert, opt, o.batch_size, o.seq_len, o.max_predictions, o.accumulation)
        .map_err(|e| js_error(Code::Gpu, e))?;
    trainer.seed = o.seed;
    Ok(PretrainSession {
        trainer: Rc::new(RefCell::new(trainer)),
        data: Rc::new(RefCell::new(Data {
            corpus,
            stream,
            tokenizer,
            batch_size: o.batch_size,
            seq: o.seq_len,
            total_steps,
            instances_per_epoch,
            tokens_seen: 0,
            last_batch: None,
        })),
    })
}
