//! Gradients and optimizer steps against PyTorch + transformers (tests/fixtures/train/README.md): every
//! parameter gradient of a seeded tiny BertForPreTraining on one masked batch, and the losses of ten AdamW
//! steps with clipping and the warmup/decay schedule, for both optimizer variants.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use bert_wgpu::io::{self, ModelFiles};
use bert_wgpu::model::weights::{self, Weights};
use bert_wgpu::model::{Batch, Bert, BertConfig};
use bert_wgpu::train::data::PretrainBatch;
use bert_wgpu::train::optimizer::{AdamVariant, OptimizerConfig};
use bert_wgpu::train::pretrain::Pretrainer;

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/train")
        .join(path)
}

fn model_files() -> ModelFiles {
    common::read_model_dir(&fixture("tiny-pretrain"))
}

/// The fixture batch: inputs, MLM labels (-100 = not scored) and NSP labels, as a PretrainBatch.
fn fixture_batch() -> (PretrainBatch, HashMap<String, Vec<f32>>) {
    let bytes = std::fs::read(fixture("tiny-pretrain-grads.safetensors")).unwrap();
    let ints: HashMap<String, (Vec<usize>, Vec<i64>)> = io::load_ints(&bytes, "grads")
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, (t.shape, t.data)))
        .collect();
    let floats: HashMap<String, Vec<f32>> = io::load(&bytes, "grads")
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.data))
        .collect();
    let (shape, ids) = &ints["input_ids"];
    let (b, s) = (shape[0], shape[1]);
    let labels = &ints["labels"].1;
    let mlm_rows: Vec<u32> = (0..b * s).filter(|&i| labels[i] >= 0).map(|i| i as u32).collect();
    let batch = Batch {
        batch: b,
        seq: s,
        ids: ids.iter().map(|&x| x as u32).collect(),
        types: ints["token_type_ids"].1.iter().map(|&x| x as u32).collect(),
        mask: ints["attention_mask"].1.iter().map(|&x| x as f32).collect(),
        lengths: (0..b)
            .map(|i| {
                ints["attention_mask"].1[i * s..(i + 1) * s]
                    .iter()
                    .filter(|&&m| m == 1)
                    .count()
            })
            .collect(),
    };
    let pb = PretrainBatch {
        batch,
        mlm_labels: mlm_rows.iter().map(|&r| labels[r as usize] as u32).collect(),
        mlm_rows,
        nsp_labels: ints["next_sentence_label"].1.iter().map(|&x| x as u32).collect(),
        mask_kinds: Vec::new(),
    };
    (pb, floats)
}

fn trainer_on(gpu: bert_wgpu::Gpu, variant: AdamVariant) -> Pretrainer {
    let bert = Bert::load(Rc::new(gpu), &model_files()).unwrap();
    let opt = OptimizerConfig::new(variant, 1e-3, 3, 10);
    Pretrainer::new(bert, opt, 3, 12, 3, 1).unwrap()
}

/// Gradients once with each matmul candidate that runs here (forced).
#[test]
fn every_parameter_gradient_matches_transformers() {
    for gpu in common::gpus_per_kernel() {
        let kernel = common::kernel_name(&gpu);
        gradients_match(trainer_on(gpu, AdamVariant::Torch), kernel);
    }
}

fn gradients_match(t: Pretrainer, kernel: &str) {
    let (batch, reference) = fixture_batch();
    let m = pollster::block_on(t.accumulate_gradients(&batch)).unwrap();
    // Losses: f32 on both sides, different summation orders.
    assert!(
        (m.loss - reference["loss"][0] as f64).abs() < 1e-5,
        "loss {} vs {}",
        m.loss,
        reference["loss"][0]
    );
    assert!((m.mlm_loss - reference["mlm_loss"][0] as f64).abs() < 1e-5);
    assert!((m.nsp_loss - reference["nsp_loss"][0] as f64).abs() < 1e-5);

    let mut checked = 0;
    for (name, got) in common::read_gradients(&t.bert.gpu, &t.grads) {
        let want = &reference[&format!("grad.{name}")];
        let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        // Gradients of f32 models agree with float64 to ~1e-6 of each tensor's largest entry
        // (tests/fixtures/train/README.md); 1e-4 absolute or 1e-3 relative to that largest entry.
        let tol = 1e-4f32.max(1e-3 * scale);
        common::assert_close(&format!("{kernel}: grad.{name}"), &got.data, want, tol);
        checked += 1;
    }
    assert_eq!(checked, 46, "every parameter of the fixture was compared");
}

/// Ten optimizer steps on the fixture batch: the loss before each step, the gradient norm and the learning
/// rate match PyTorch's run, and so does the loss after the last step.
fn ten_steps_match(variant: AdamVariant, key: &str) {
    for gpu in common::gpus_per_kernel() {
        let kernel = common::kernel_name(&gpu);
        ten_steps_match_on(trainer_on(gpu, variant), &format!("{kernel}: {key}"), key);
    }
}

fn ten_steps_match_on(mut t: Pretrainer, key: &str, run_key: &str) {
    let (batch, _) = fixture_batch();
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("tiny-pretrain-adamw.json")).unwrap()).unwrap();
    let run = &reference[run_key];
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10);
    let rel = |got: f64, want: f64| (got - want).abs() / want.abs().max(1e-12);
    for (i, want) in steps.iter().enumerate() {
        let m = pollster::block_on(t.step(&batch, true)).unwrap().unwrap();
        let (loss, norm, lr) = (
            want["loss"].as_f64().unwrap(),
            want["grad_norm"].as_f64().unwrap(),
            want["lr"].as_f64().unwrap(),
        );
        // 1e-4 relative, as the parity target says; float64 reruns of PyTorch move these by ~1e-6.
        assert!(rel(m.loss, loss) < 1e-4, "{key} step {i}: loss {} vs {loss}", m.loss);
        assert!(
            rel(m.grad_norm.unwrap(), norm) < 1e-4,
            "{key} step {i}: grad norm {:?} vs {norm}",
            m.grad_norm
        );
        assert!((m.lr - lr).abs() < 1e-12, "{key} step {i}: lr {} vs {lr}", m.lr);
    }
    let after = pollster::block_on(t.evaluate(&batch)).unwrap();
    let want = run["final_loss"].as_f64().unwrap();
    assert!(
        rel(after.loss, want) < 1e-4,
        "{key}: loss after 10 steps {} vs {want}",
        after.loss
    );
}

#[test]
fn ten_torch_adamw_steps_match_pytorch() {
    ten_steps_match(AdamVariant::Torch, "torch_adamw");
}

#[test]
fn ten_google_adam_weight_decay_steps_match_the_original_recipe() {
    ten_steps_match(AdamVariant::Google, "google_adam_weight_decay");
}

/// With dropout on (p = 0.1, fixed step seed), the analytic gradient matches central finite differences of
/// the loss, so forward and backward apply the same masks at every site.
#[test]
fn gradients_with_dropout_match_finite_differences() {
    let Some(gpu) = common::gpu() else { return };
    let mut files = model_files();
    let mut config: serde_json::Value = serde_json::from_slice(&files.config).unwrap();
    config["hidden_dropout_prob"] = 0.1.into();
    config["attention_probs_dropout_prob"] = 0.1.into();
    files.config = config.to_string().into_bytes();
    let bert = Bert::load(Rc::new(gpu), &files).unwrap();
    let mut t = Pretrainer::new(bert, OptimizerConfig::new(AdamVariant::Torch, 1e-3, 3, 10), 3, 12, 3, 1).unwrap();
    t.seed = 99;
    let (batch, _) = fixture_batch();
    let base = pollster::block_on(t.accumulate_gradients(&batch)).unwrap();
    let no_dropout = pollster::block_on(t.evaluate(&batch)).unwrap();
    assert!((base.loss - no_dropout.loss).abs() > 1e-4, "dropout changed nothing");

    let checked = finite_differences_agree(&t, &batch, |name| {
        name.contains("layer.0.intermediate.dense.weight")
            || name.contains("layer.1.attention.self.qkv.weight")
            || name.contains("embeddings.LayerNorm.weight")
    });
    assert_eq!(checked, 3);
}

/// For each parameter that `pick` names, the entry with the largest gradient in `t.grads` (just computed on
/// `batch`) against central finite differences of the loss; returns how many were checked.
fn finite_differences_agree(t: &Pretrainer, batch: &PretrainBatch, pick: impl Fn(&str) -> bool) -> usize {
    let named = t.bert.weights.named();
    let grads = t.grads.named();
    let read = |tensor: &bert_wgpu::Tensor| pollster::block_on(t.bert.gpu.read(&[tensor])).unwrap().remove(0);
    // Read every gradient first: each finite-difference evaluation below accumulates into them again.
    let all_grads: Vec<Vec<f32>> = grads.iter().map(|(_, g)| read(g)).collect();
    let mut checked = 0;
    for (i, (name, param)) in named.iter().enumerate() {
        if !pick(name) {
            continue;
        }
        let values = read(param);
        let grad = &all_grads[i];
        // The entry with the largest gradient: finite differences in f32 resolve it well.
        let j = (0..grad.len())
            .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
            .unwrap();
        let eps = 1e-2f32;
        let loss_at = |v: f32| {
            let mut changed = values.clone();
            changed[j] = v;
            t.bert
                .gpu
                .queue
                .write_buffer(&param.buf, 0, bytemuck::cast_slice(&changed));
            pollster::block_on(t.accumulate_gradients(batch)).unwrap().loss
        };
        let numeric = (loss_at(values[j] + eps) - loss_at(values[j] - eps)) / (2.0 * eps as f64);
        t.bert
            .gpu
            .queue
            .write_buffer(&param.buf, 0, bytemuck::cast_slice(&values));
        // The loss is computed in f32 (about 1e-6 relative): a 2e-2 step resolves gradients of this size to ~2%.
        let analytic = grad[j] as f64;
        assert!(
            (numeric - analytic).abs() <= 0.03 * analytic.abs() + 1e-3,
            "{name}[{j}]: numeric {numeric} vs analytic {analytic}"
        );
        checked += 1;
    }
    checked
}

/// A vocabulary that is not a multiple of 4 (the MLM logits are then stored padded, and the decoder's dX is
/// split along the vocabulary when it is long): the decoder (tied word embeddings), the MLM bias and an
/// encoder weight behind them get the gradients that finite differences give.
#[test]
fn an_odd_vocabulary_gets_the_gradients_of_finite_differences() {
    let Some(gpu) = common::gpu() else { return };
    let gpu = Rc::new(gpu);
    for vocab in [322, 8198] {
        let mut config = BertConfig::new(vocab, 32, 2, 2, 64);
        config.hidden_dropout_prob = 0.0;
        config.attention_probs_dropout_prob = 0.0;
        config.max_position_embeddings = 64;
        let host = weights::init_host(&config, 5);
        let w = Weights::from_host(&gpu, &config, host, "random weights").unwrap();
        let files = model_files();
        let bert = Bert::from_parts(gpu.clone(), config, w, files.tokenizer().unwrap(), files);
        let opt = OptimizerConfig::new(AdamVariant::Torch, 1e-3, 3, 10);
        let mut t = Pretrainer::new(bert, opt, 2, 8, 3, 1).unwrap();
        let (b, s) = (2, 8);
        let mut rng = bert_wgpu::rng::Rng::new(6);
        let ids: Vec<u32> = (0..b * s).map(|_| (rng.next_u64() % vocab as u64) as u32).collect();
        let mlm_rows = vec![1, 4, 6, 9, 13];
        let batch = PretrainBatch {
            batch: Batch {
                batch: b,
                seq: s,
                types: vec![0; b * s],
                mask: vec![1.0; b * s],
                lengths: vec![s; b],
                ids,
            },
            // Labels near the end of the vocabulary, next to the padding.
            mlm_labels: vec![vocab as u32 - 1, 7, vocab as u32 - 2, 0, vocab as u32 - 1],
            mlm_rows,
            nsp_labels: vec![0, 1],
            mask_kinds: Vec::new(),
        };
        t.seed = 1;
        pollster::block_on(t.accumulate_gradients(&batch)).unwrap();
        let checked = finite_differences_agree(&t, &batch, |name| {
            name.ends_with("word_embeddings.weight")
                || name.ends_with("cls.predictions.bias")
                || name.contains("layer.1.output.dense.weight")
        });
        assert_eq!(checked, 3, "vocabulary {vocab}");
    }
}

/// Gradient accumulation: two micro-batches of the same batch per update (each scaled by 1/2) train exactly
/// as one batch per update.
#[test]
fn accumulating_two_micro_batches_equals_one_batch() {
    let Some(gpu) = common::gpu() else { return };
    let gpu = Rc::new(gpu);
    let (batch, _) = fixture_batch();
    let make = |accumulation| {
        let bert = Bert::load(gpu.clone(), &model_files()).unwrap();
        Pretrainer::new(
            bert,
            OptimizerConfig::new(AdamVariant::Torch, 1e-3, 1, 10),
            3,
            12,
            3,
            accumulation,
        )
        .unwrap()
    };
    let (mut one, mut two) = (make(1), make(2));
    for step in 0..4 {
        let a = pollster::block_on(one.step(&batch, true)).unwrap().unwrap();
        let first = pollster::block_on(two.step(&batch, true)).unwrap().unwrap();
        assert!(first.grad_norm.is_none(), "no update after the first micro-batch");
        let b = pollster::block_on(two.step(&batch, true)).unwrap().unwrap();
        assert_eq!(two.step, one.step);
        // Same losses before each update, same gradient norm: f32 sums in another order.
        assert!((a.loss - b.loss).abs() < 1e-5, "step {step}: {} vs {}", a.loss, b.loss);
        let (na, nb) = (a.grad_norm.unwrap(), b.grad_norm.unwrap());
        assert!((na - nb).abs() < 1e-4 * na, "step {step}: grad norm {na} vs {nb}");
    }
}
