//! The forward pass against PyTorch + transformers: fixtures written by scripts/make_fixtures.py from
//! seeded tiny models (tests/fixtures/README.md). Every tensor is compared with a named tolerance.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use bert_wgpu::gpu::Recorder;
use bert_wgpu::model::AttentionMode;
use bert_wgpu::model::{Batch, Bert};
use common::assert_close;

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// The reference file: float tensors as f32, integer tensors as i64, with shapes.
struct Reference {
    floats: HashMap<String, (Vec<usize>, Vec<f32>)>,
    ints: HashMap<String, (Vec<usize>, Vec<i64>)>,
}

fn read_reference(name: &str) -> Reference {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut r = Reference {
        floats: HashMap::new(),
        ints: HashMap::new(),
    };
    for (key, view) in st.tensors() {
        let shape = view.shape().to_vec();
        match view.dtype() {
            safetensors::Dtype::F32 => {
                r.floats.insert(key, (shape, le(view.data(), f32::from_le_bytes)));
            }
            safetensors::Dtype::I64 => {
                r.ints.insert(key, (shape, le(view.data(), i64::from_le_bytes)));
            }
            other => panic!("{name}: unexpected dtype {other:?} for {key}"),
        }
    }
    r
}

/// Little-endian values of `N` bytes each.
fn le<T, const N: usize>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|b| from(b.try_into().unwrap())).collect()
}

/// Rows [0, len) of each sequence from a (batch, padded_seq, c) GPU readback, flattened.
fn unpad(data: &[f32], batch: usize, padded: usize, len: usize, c: usize) -> Vec<f32> {
    (0..batch)
        .flat_map(|b| data[b * padded * c..(b * padded + len) * c].to_vec())
        .collect()
}

/// Runs one fixture model on the reference inputs and compares every output the reference holds.
/// The forward of a model against transformers, once with each matmul candidate that runs here.
fn check_model(model_dir: &str, reference: &str) {
    for gpu in common::gpus_per_kernel() {
        check_model_on(gpu, model_dir, reference);
    }
}

fn check_model_on(gpu: bert_wgpu::Gpu, model_dir: &str, reference: &str) {
    let kernel = common::kernel_name(&gpu);
    let bert = Bert::load(Rc::new(gpu), &common::read_model_dir(&fixture(model_dir))).unwrap();
    let r = read_reference(reference);
    let (shape, ids) = &r.ints["input_ids"];
    let (batch, len) = (shape[0], shape[1]);
    let seq = len.next_multiple_of(4);
    let mut b = Batch {
        batch,
        seq,
        ids: vec![bert.tokenizer.pad_id(); batch * seq],
        types: vec![0; batch * seq],
        mask: vec![0.0; batch * seq],
        lengths: vec![len; batch],
    };
    for i in 0..batch {
        for s in 0..len {
            b.ids[i * seq + s] = ids[i * len + s] as u32;
            b.types[i * seq + s] = r.ints["token_type_ids"].1[i * len + s] as u32;
            b.mask[i * seq + s] = r.ints["attention_mask"].1[i * len + s] as f32;
        }
    }
    let c = &bert.config;
    let (h, v, layers, heads) = (c.hidden_size, c.vocab_size, c.num_hidden_layers, c.num_attention_heads);
    // The unfused attention, which keeps the probabilities to compare; the fused one is checked below.
    let mut rec = Recorder::new(&bert.gpu);
    let ws = bert.record_forward_attentions(&mut rec, &b).unwrap();
    let all_rows: Vec<u32> = (0..batch)
        .flat_map(|i| (0..len).map(move |s| (i * seq + s) as u32))
        .collect();
    let logits = bert
        .weights
        .mlm
        .as_ref()
        .map(|_| bert.record_mlm(&mut rec, &ws, &all_rows).unwrap());
    let mut reads: Vec<(&wgpu::Buffer, u64, usize)> = ws.hidden.iter().map(|t| (&t.buf, 0, t.len())).collect();
    reads.extend(ws.probs.iter().map(|t| (&t.buf, 0, t.len())));
    reads.push((&ws.pooled.buf, 0, ws.pooled.len()));
    reads.push((&ws.nsp_logits.buf, 0, ws.nsp_logits.len()));
    if let Some(l) = &logits {
        reads.push((&l.buf, 0, l.len()));
    }
    let got = pollster::block_on(rec.submit_and_read(&reads)).unwrap();

    // Tolerances: the fixtures are f32 from PyTorch on the CPU; differences come from summation order and
    // from erf's polynomial fit (1.2e-7 relative). Swapping gelu for gelu_new moves hidden states by ~5e-4,
    // so each bound is well below what a wrong activation, a dropped bias or a wrong mask would give.
    for l in 0..=layers {
        let want = &r.floats[&format!("hidden_states.{l}")].1;
        assert_close(
            &format!("{kernel}: {model_dir} hidden_states.{l}"),
            &unpad(&got[l], batch, seq, len, h),
            want,
            2e-5,
        );
    }
    for l in 0..layers {
        let name = format!("attentions.{l}");
        if let Some((_, want)) = r.floats.get(&name) {
            let padded = &got[layers + 1 + l];
            let mut g = Vec::with_capacity(want.len());
            for row in 0..batch * heads * len {
                let (bh, i) = (row / len, row % len);
                let start = (bh * seq + i) * seq;
                g.extend_from_slice(&padded[start..start + len]);
            }
            assert_close(&format!("{kernel}: {model_dir} {name}"), &g, want, 1e-5);
        }
    }
    let k = 2 * layers + 1;
    if let Some((_, want)) = r.floats.get("pooled_output") {
        assert_close(&format!("{kernel}: {model_dir} pooled_output"), &got[k], want, 2e-5);
    }
    if let Some((_, want)) = r.floats.get("nsp_logits") {
        assert_close(&format!("{kernel}: {model_dir} nsp_logits"), &got[k + 1], want, 5e-5);
    }
    if let Some((_, want)) = r.floats.get("mlm_logits") {
        assert_eq!(got[k + 2].len(), batch * len * v);
        // Logits reach |10|; relative rounding of the vocabulary projection stays near 1e-6.
        assert_close(&format!("{kernel}: {model_dir} mlm_logits"), &got[k + 2], want, 5e-5);
    }
    drop(ws);

    // Inference through the fused attention (nothing of size seq x seq stored) and through the unfused one
    // with one probabilities buffer for all layers: the same hidden states.
    for (mode, stored) in [(AttentionMode::Fused, 0), (AttentionMode::Unfused, 1)] {
        let mut rec = Recorder::new(&bert.gpu);
        let ws = bert.record_forward_mode(&mut rec, &b, mode).unwrap();
        assert_eq!(ws.probs.len(), stored, "{mode:?}: probabilities stored");
        let reads: Vec<(&wgpu::Buffer, u64, usize)> = ws.hidden.iter().map(|t| (&t.buf, 0, t.len())).collect();
        let out = pollster::block_on(rec.submit_and_read(&reads)).unwrap();
        for l in 0..=layers {
            let want = &r.floats[&format!("hidden_states.{l}")].1;
            let name = format!("{kernel}: {model_dir} {mode:?} attention, hidden_states.{l}");
            assert_close(&name, &unpad(&out[l], batch, seq, len, h), want, 2e-5);
        }
    }
}

#[test]
fn tiny_bert_for_pretraining_matches_transformers() {
    check_model("tiny-bert", "tiny-bert-reference.safetensors");
}

#[test]
fn gelu_new_with_gamma_beta_names_and_absent_decoder_matches_transformers() {
    check_model("tiny-bert-gelu-new", "tiny-bert-gelu-new-reference.safetensors");
}

#[test]
fn bare_bert_model_without_prefix_matches_transformers() {
    check_model("tiny-bertmodel", "tiny-bertmodel-reference.safetensors");
}

/// `Bert::attention_maps` of the reference's two text pairs (one fills the batch, one was padded there):
/// transformers' attentions, cut to each pair's tokens.
#[test]
fn attention_maps_of_text_pairs_equal_transformers() {
    let Some(gpu) = common::gpu() else { return };
    let bert = Bert::load(Rc::new(gpu), &common::read_model_dir(&fixture("tiny-bert"))).unwrap();
    let r = read_reference("tiny-bert-reference.safetensors");
    let len = r.ints["input_ids"].0[1];
    let heads = bert.config.num_attention_heads;
    let pairs = [("the kings love [MASK]", "it is qwerty"), ("paris is", "a [MASK]")];
    for (row, (a, b)) in pairs.into_iter().enumerate() {
        let maps = pollster::block_on(bert.attention_maps(a, Some(b))).unwrap();
        let n = maps.tokens.len();
        let ids = &r.ints["input_ids"].1[row * len..(row + 1) * len];
        let want_tokens: Vec<String> = (ids.iter().take(n))
            .map(|&id| bert.tokenizer.id_to_token(id as u32).unwrap())
            .collect();
        assert_eq!(maps.tokens, want_tokens, "pair {row}");
        assert_eq!(maps.segments.len(), n, "pair {row}");
        assert_eq!(maps.attention.len(), bert.config.num_hidden_layers, "pair {row}");
        for (l, layer) in maps.attention.iter().enumerate() {
            let want = &r.floats[&format!("attentions.{l}")].1; // (batch, heads, len, len)
            for (h, map) in layer.iter().enumerate() {
                let start = (row * heads + h) * len;
                let w: Vec<f32> = (0..n).flat_map(|q| &want[(start + q) * len..][..n]).copied().collect();
                assert_close(&format!("pair {row} attentions.{l} head {h}"), map, &w, 1e-5);
            }
        }
    }
    assert_eq!(
        pollster::block_on(bert.attention_maps("paris is", None))
            .unwrap()
            .tokens
            .len(),
        4
    );
}
