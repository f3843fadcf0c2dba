//! The JS class `FinetuneSession`: a pretrained encoder plus a sequence-classification head trained on
//! labelled rows (single texts or pairs), step by step, with the recipe and defaults of `bert-wgpu finetune`
//! (AdamW, linear warmup over 10% of the steps then decay to 0, weight decay 0.01, gradient clipping at 1,
//! batches padded to their longest row, a new order every epoch from the seed), and the eval rows scored
//! after every epoch.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::bert::{ModelRef, WebBert};
use super::{gpu, js_error, model_files, to_js, Code};
use crate::model::check_fits;
use crate::model::weights::HeadKind;
use crate::model::{Bert, BertConfig};
use crate::tasks::features::FeatureSettings;
use crate::tasks::Examples;
use crate::tasks::{is_regression, LabelMap, Task};
use crate::train::finetune::{with_task, Finetuner, Recipe};
use crate::train::optimizer::OptimizerConfig;
use crate::train::task_data::TaskData;
use crate::Error;
type JsResult<T> = std::result::Result<T, JsValue>;

/// The options of `Trainer.finetune`, with the CLI's defaults.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct FinetuneOptions {
    /// "seq-cls" (text, label) or "pair-cls" (text, text_pair, label).
    task: String,
    epochs: u64,
    batch_size: usize,
    lr: f64,
    warmup_ratio: f64,
    weight_decay: f64,
    clip: f64,
    /// Tokens per row, [CLS] and [SEP]s included (default: 128, at most max_position_embeddings).
    max_length: Option<usize>,
    /// The label is a number to regress (one output, squared error).
    regression: bool,
    seed: u64,
    /// Use only the first N training rows (as `--limit`).
    limit: Option<usize>,
    /// Use only the first N eval rows (as `--eval-limit`).
    eval_limit: Option<usize>,
}

impl Default for FinetuneOptions {
    fn default() -> Self {
        FinetuneOptions {
            task: "seq-cls".into(),
            epochs: 3,
            batch_size: 32,
            lr: 5e-5,
            warmup_ratio: 0.1,
            weight_decay: 0.01,
            clip: 1.0,
            max_length: None,
            regression: false,
            seed: 42,
            limit: None,
            eval_limit: None,
        }
    }
}

struct Data {
    task: Task,
    train: TaskData,
    eval: Option<TaskData>,
    recipe: Recipe,
    steps_per_epoch: u64,
    /// The shuffled order of the current epoch: (epoch, feature indices).
    order: RefCell<(u64, Vec<usize>)>,
}

impl Data {
    fn total_steps(&self) -> u64 {
        self.steps_per_epoch * self.recipe.epochs
    }

    /// The features of optimizer step `step` (0-based): the recipe's order of the epoch, cut into batches.
    fn batch_indices(&self, step: u64) -> Vec<usize> {
        let epoch = step / self.steps_per_epoch;
        let mut order = self.order.borrow_mut();
        if order.0 != epoch || order.1.is_empty() {
            *order = (epoch, self.recipe.epoch_order(self.train.features.len(), epoch));
        }
        let first = (step % self.steps_per_epoch) as usize;
        order
            .1
            .chunks(self.recipe.batch_size)
            .nth(first)
            .unwrap_or_default()
            .to_vec()
    }

    /// The eval rows' metrics: accuracy, macro_f1 and loss (mse and loss for regression).
    async fn evaluate(&self, bert: &Bert) -> JsResult<serde_json::Value> {
        let Some(eval) = &self.eval else {
            return Err(js_error(
                Code::Input,
                "evaluate: this trainer has no eval rows (give `eval` to Trainer.finetune)",
            ));
        };
        let (metrics, _) = eval
            .evaluate(bert, self.recipe.batch_size)
            .await
            .map_err(|e| js_error(Code::Gpu, e))?;
        let mut v = serde_json::to_value(&metrics).map_err(|e| js_error(Code::Input, e))?;
        v["examples"] = eval.examples.len().into();
        Ok(v)
    }
}

/// Fine-tuning on the page's device.
#[wasm_bindgen]
pub struct FinetuneSession {
    trainer: Rc<RefCell<Finetuner>>,
    data: Rc<Data>,
}

fn busy() -> JsValue {
    js_error(Code::Busy, "a training step is already running on this trainer")
}

#[wasm_bindgen]
impl FinetuneSession {
    /// A session that fine-tunes `model` (the files of a model directory: a pretrained encoder, whose
    /// pretraining heads are dropped, or a model with a sequence-classification head) on the rows of
    /// `train_text` (a .tsv / .csv with a header, or .jsonl, as `train_name`'s extension says; errors name
    /// `train_name:line`), scoring the rows of `eval_text` after every epoch.
    #[wasm_bindgen(unchecked_return_type = "Promise<FinetuneSession>")]
    pub fn create(
        #[wasm_bindgen(unchecked_param_type = "ModelFileBytes")] model: JsValue,
        train_text: String,
        train_name: String,
        eval_text: Option<String>,
        eval_name: Option<String>,
        options: JsValue,
    ) -> js_sys::Promise {
        future_to_promise(async move {
            let opts: FinetuneOptions = super::options(&options, "Trainer.finetune options")?;
            let eval = eval_text.map(|t| (t, eval_name.unwrap_or_else(|| "eval.tsv".into())));
            let session = create(model, (train_text, train_name), eval, opts).await?;
            Ok(session.into())
        })
    }

    /// One optimizer step: `{ step, epoch, loss, accuracy, gradNorm, lr, scored, tokens, totalSteps,
    /// stepsPerEpoch, epochEnd, eval? }`; `eval` (the eval rows' accuracy, macro_f1 and loss) after the last
    /// step of every epoch when the session has eval rows.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn step(&self) -> js_sys::Promise {
        let (trainer, data) = (self.trainer.clone(), self.data.clone());
        future_to_promise(async move {
            let mut trainer = trainer.try_borrow_mut().map_err(|_| busy())?;
            let total = data.total_steps();
            if trainer.step >= total {
                return Err(js_error(
                    Code::Input,
                    format!(
                        "all {total} steps of the schedule ({} epochs) are done; start a new fine-tuning for more",
                        data.recipe.epochs
                    ),
                ));
            }
            let indices = data.batch_indices(trainer.step);
            let pad = trainer.bert.tokenizer.pad_id();
            let b = data.train.batch(&indices, pad);
            let tokens: usize = b.batch.lengths.iter().sum();
            let m = trainer.step(&b).await.map_err(|e| js_error(Code::Gpu, e))?;
            let step = trainer.step;
            let epoch_end = step % data.steps_per_epoch == 0;
            let mut out = serde_json::json!({
                "step": step,
                "epoch": step as f64 / data.steps_per_epoch as f64,
                "loss": m.loss,
                "accuracy": m.accuracy,
                "gradNorm": m.grad_norm,
                "lr": m.lr,
                "scored": m.scored,
                "tokens": tokens,
                "totalSteps": total,
                "stepsPerEpoch": data.steps_per_epoch,
                "epochEnd": epoch_end,
            });
            if epoch_end && data.eval.is_some() {
                out["eval"] = data.evaluate(&trainer.bert).await?;
            }
            to_js(&out)
        })
    }

    /// The eval rows' metrics now: `{ accuracy, macro_f1, loss, examples }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn evaluate(&self) -> js_sys::Promise {
        let (trainer, data) = (self.trainer.clone(), self.data.clone());
        future_to_promise(async move {
            let trainer = trainer.try_borrow().map_err(|_| busy())?;
            let v = data.evaluate(&trainer.bert).await?;
            to_js(&v)
        })
    }

    /// The model being trained (shares its weights: predictions follow the training).
    #[wasm_bindgen(js_name = model)]
    pub fn model(&self) -> WebBert {
        WebBert {
            model: ModelRef::Finetuning(self.trainer.clone()),
        }
    }

    /// `{ task, step, totalSteps, stepsPerEpoch, epochs, batchSize, maxLength, trainExamples,
    /// trainFeatures, evalExamples, labels }`.
    #[wasm_bindgen(unchecked_return_type = "any")]
    pub fn info(&self) -> JsResult<JsValue> {
        let trainer = self.trainer.try_borrow().map_err(|_| busy())?;
        let d = &self.data;
        to_js(&serde_json::json!({
            "task": d.task.name(),
            "step": trainer.step,
            "totalSteps": d.total_steps(),
            "stepsPerEpoch": d.steps_per_epoch,
            "epochs": d.recipe.epochs,
            "batchSize": d.recipe.batch_size,
            "maxLength": d.train.settings.max_len,
            "trainExamples": d.train.examples.len(),
            "trainFeatures": d.train.features.len(),
            "evalExamples": d.eval.as_ref().map(|e| e.examples.len()),
            "labels": d.train.labels.as_ref().map(|l| l.names.clone()),
        }))
    }
}

async fn create(
    model: JsValue,
    train: (String, String),
    eval: Option<(String, String)>,
    o: FinetuneOptions,
) -> JsResult<FinetuneSession> {
    let input = |e: Error| js_error(Code::Input, e);
    let task = Task::parse(&o.task).map_err(input)?;
    if task.head != HeadKind::Sequence {
        return Err(input(Error::new(format!(
            "task {:?}: the browser fine-tunes sequence classification (\"seq-cls\" or \"pair-cls\"); \
             use `bert-wgpu finetune` for token classification and question answering",
            o.task
        ))));
    }
    if o.batch_size == 0 || o.epochs == 0 {
        return Err(input(Error::new("batchSize and epochs must be at least 1")));
    }
    if !(0.0..=1.0).contains(&o.warmup_ratio) {
        return Err(input(Error::new(format!(
            "warmupRatio {}: must be between 0 and 1",
            o.warmup_ratio
        ))));
    }
    // The optimizer's domains (lr, weightDecay) before anything is allocated, as the CLI checks its flags.
    OptimizerConfig::check_options(o.lr, o.weight_decay, None, super::camel).map_err(input)?;
    // The rows first: a bad file is reported before the model is loaded.
    let mut train_examples = Examples::parse(task, &train.0, &train.1).map_err(input)?;
    if let Some(n) = o.limit {
        train_examples.truncate(n);
    }
    let eval_examples = match &eval {
        Some((text, name)) => {
            let mut examples = Examples::parse(task, text, name).map_err(input)?;
            if let Some(n) = o.eval_limit {
                examples.truncate(n);
            }
            Some(examples)
        }
        None => None,
    };
    let files = model_files(&model).map_err(|e| js_error(Code::BadFile, e))?;
    let config = BertConfig::from_json(&files.config).map_err(|e| js_error(Code::BadFile, e))?;
    let max_length = o.max_length.unwrap_or(config.max_position_embeddings.min(128));
    if max_length > config.max_position_embeddings || max_length < 8 {
        return Err(input(Error::new(format!(
            "maxLength {max_length}: must be between 8 and the model's max_position_embeddings ({})",
            config.max_position_embeddings
        ))));
    }
    let gpu = gpu().await?;
    gpu.set_limit_hint("batchSize or maxLength");
    check_fits(&gpu, &config, o.batch_size, max_length.next_multiple_of(4)).map_err(|e| js_error(Code::Limits, e))?;
    let bert = Bert::load(gpu, &files).map_err(|e| js_error(Code::BadFile, e))?;
    if let Some(kind) = bert.weights.task.as_ref().map(|t| t.kind) {
        if kind != HeadKind::Sequence {
            return Err(input(Error::new(format!(
                "the model is a {}; fine-tuning {} needs a BertForSequenceClassification or an encoder without a \
                 task head",
                kind.architecture(),
                task.name()
            ))));
        }
    }
    let regression = o.regression || (bert.weights.task.is_some() && is_regression(&bert.config));
    let labels = (!regression).then(|| LabelMap::for_training(&bert.config, train_examples.label_values()));
    let settings = FeatureSettings {
        max_len: max_length,
        doc_stride: max_length / 2,
        max_answer_len: 30,
    };
    let tok = &bert.tokenizer;
    let train = TaskData::new(task, &train.1, train_examples, tok, labels.clone(), settings, true).map_err(input)?;
    let eval = match (eval, eval_examples) {
        (Some((_, name)), Some(examples)) => {
            examples
                .check_labels_trained(labels.as_ref(), &bert.config, &name, &train.file)
                .map_err(input)?;
            Some(TaskData::new(task, &name, examples, tok, labels.clone(), settings, true).map_err(input)?)
        }
        _ => None,
    };
    train.check_learnable().map_err(input)?;
    let bert = with_task(bert, HeadKind::Sequence, labels.as_ref(), o.seed).map_err(|e| js_error(Code::Gpu, e))?;
    let recipe = Recipe {
        lr: o.lr,
        warmup_ratio: o.warmup_ratio,
        weight_decay: o.weight_decay,
        clip: o.clip,
        epochs: o.epochs,
        batch_size: o.batch_size,
        seed: o.seed,
    };
    let features = train.features.len();
    let trainer = Finetuner::new(bert, recipe.optimizer(features), o.seed).map_err(|e| js_error(Code::Gpu, e))?;
    Ok(FinetuneSession {
        trainer: Rc::new(RefCell::new(trainer)),
        data: Rc::new(Data {
            task,
            train,
            eval,
            steps_per_epoch: recipe.steps_per_epoch(features),
            recipe,
            order: RefCell::new((0, Vec::new())),
        }),
    })
}
