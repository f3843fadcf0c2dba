//! The four fine-tuning heads against PyTorch + transformers (tests/fixtures/finetune/README.md): logits,
//! loss and every parameter gradient of a seeded tiny BertForSequenceClassification (pairs; regression),
//! BertForTokenClassification and BertForQuestionAnswering on one padded batch.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bert_wgpu::io;
use bert_wgpu::model::task::{Targets, TaskBatch, IGNORE};
use bert_wgpu::model::weights::HeadKind;
use bert_wgpu::model::{Batch, Bert};
use bert_wgpu::train::finetune::Finetuner;
use bert_wgpu::train::optimizer::{AdamVariant, OptimizerConfig};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/finetune")
        .join(path)
}

struct Reference {
    ints: HashMap<String, (Vec<usize>, Vec<i64>)>,
    floats: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

fn reference(task: &str) -> Reference {
    let bytes = std::fs::read(fixture(&format!("{task}-reference.safetensors"))).unwrap();
    Reference {
        ints: io::load_ints(&bytes, task)
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, (t.shape, t.data)))
            .collect(),
        floats: io::load(&bytes, task)
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, (t.shape, t.data)))
            .collect(),
    }
}

/// The reference batch (B, T) padded to T rounded up to a multiple of 4, as the kernels want, and its
/// targets in that layout.
fn batch(r: &Reference, kind: HeadKind, regression: bool) -> TaskBatch {
    let (shape, ids) = &r.ints["input_ids"];
    let (b, t) = (shape[0], shape[1]);
    let mask = &r.ints["attention_mask"].1;
    let types = &r.ints["token_type_ids"].1;
    let u = |v: &[i64]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
    let rows: Vec<(Vec<u32>, Vec<u32>)> = (0..b)
        .map(|i| {
            let len = mask[i * t..(i + 1) * t].iter().filter(|&&m| m == 1).count();
            (u(&ids[i * t..i * t + len]), u(&types[i * t..i * t + len]))
        })
        .collect();
    let seq = t.next_multiple_of(4);
    let batch = Batch::from_sequences(rows.iter().map(|(a, b)| (&a[..], &b[..])), 0, seq, b);
    let targets = match kind {
        HeadKind::Sequence if regression => Targets::Values(r.floats["labels"].1.clone()),
        HeadKind::Sequence => Targets::Classes(u(&r.ints["labels"].1)),
        HeadKind::Token => {
            let labels = &r.ints["labels"].1;
            let mut out = vec![IGNORE; b * seq];
            for i in 0..b {
                for s in 0..t {
                    let l = labels[i * t + s];
                    if l >= 0 {
                        out[i * seq + s] = l as u32;
                    }
                }
            }
            Targets::Tokens(out)
        }
        HeadKind::Span => Targets::Spans {
            starts: u(&r.ints["start_positions"].1),
            ends: u(&r.ints["end_positions"].1),
        },
    };
    TaskBatch { batch, targets }
}

/// Loss, logits and every gradient of `task` (a model directory and its reference file) match.
fn head_matches(task: &str, kind: HeadKind, regression: bool, zero_grads: &[&str]) {
    let Some(gpu) = common::gpu() else { return };
    let bert = Bert::load(Rc::new(gpu), &common::read_model_dir(&fixture(task))).unwrap();
    assert_eq!(
        bert.task_head().unwrap().kind,
        kind,
        "{task}: head kind from config.json"
    );
    let opt = OptimizerConfig::new(AdamVariant::Torch, 1e-3, 0, 10);
    let t = Finetuner::new(bert, opt, 0).unwrap();
    let r = reference(task);
    let b = batch(&r, kind, regression);
    let (rows, t_ref) = (b.batch.batch, r.ints["input_ids"].0[1]);

    let (eval, logits) = pollster::block_on(t.evaluate(&b)).unwrap();
    let m = pollster::block_on(t.accumulate_gradients(&b)).unwrap();
    let want_loss = r.floats["loss"].1[0] as f64;
    assert!(
        (m.loss - want_loss).abs() < 1e-5,
        "{task}: loss {} vs {want_loss}",
        m.loss
    );
    assert!(
        (eval.loss - want_loss).abs() < 1e-5,
        "{task}: eval loss {} vs {want_loss}",
        eval.loss
    );

    // Logits in the reference layout: (B, labels), (B, T, labels) or start/end (B, T).
    let seq = b.batch.seq;
    let unpad = |v: &[f32], per: usize| -> Vec<f32> {
        (0..rows)
            .flat_map(|i| v[i * seq * per..(i * seq + t_ref) * per].to_vec())
            .collect()
    };
    match kind {
        HeadKind::Sequence => common::assert_close("logits", &logits, &r.floats["logits"].1, 1e-5),
        HeadKind::Token => {
            let labels = r.floats["logits"].0[2];
            common::assert_close("logits", &unpad(&logits, labels), &r.floats["logits"].1, 1e-5);
        }
        HeadKind::Span => {
            let (start, end) = logits.split_at(rows * seq);
            common::assert_close("start_logits", &unpad(start, 1), &r.floats["start_logits"].1, 1e-5);
            common::assert_close("end_logits", &unpad(end, 1), &r.floats["end_logits"].1, 1e-5);
        }
    }

    let mut checked = 0;
    for (name, got) in common::read_gradients(&t.bert.gpu, &t.grads) {
        let (shape, want) = &r.floats[&format!("grad.{name}")];
        assert_eq!(&got.shape, shape, "{task}: grad.{name} shape");
        let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        // Exactly-zero gradients (the README lists them) are f32 noise on both sides: absolute 1e-5.
        // Others: 1e-3 of the tensor's largest entry (float64 reruns agree to ~2e-6 of it), at least 1e-5.
        let tol = if zero_grads.iter().any(|z| name.ends_with(z)) {
            1e-5
        } else {
            1e-5f32.max(1e-3 * scale)
        };
        common::assert_close(&format!("{task}: grad.{name}"), &got.data, want, tol);
        checked += 1;
    }
    let expected = r.floats.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(checked, expected, "{task}: every parameter gradient was compared");
}

#[test]
fn sequence_pair_classification_matches_transformers() {
    head_matches("seq-cls", HeadKind::Sequence, false, &["key.bias"]);
}

#[test]
fn sequence_regression_matches_transformers() {
    head_matches("seq-reg", HeadKind::Sequence, true, &["key.bias"]);
}

#[test]
fn token_classification_matches_transformers() {
    head_matches("token-cls", HeadKind::Token, false, &["key.bias"]);
}

#[test]
fn question_answering_matches_transformers() {
    let zero = ["key.bias", "qa_outputs.bias", "layer.1.output.LayerNorm.bias"];
    head_matches("qa", HeadKind::Span, false, &zero);
}
