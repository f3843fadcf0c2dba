//! Fill-mask and embeddings end to end: against transformers' pipeline output for the tiny fixture model,
//! and against sentence embeddings of the real all-MiniLM-L6-v2 checkpoint recorded from transformers.

mod common;

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bert_wgpu::pipelines::{fill_mask_json, Pooling};
use bert_wgpu::Bert;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(dir: &Path) -> Option<Bert> {
    let gpu = common::gpu()?;
    Some(Bert::load(Rc::new(gpu), &common::read_model_dir(dir)).unwrap())
}

/// Same tokens, same strings, scores within `tol`, element by element through nested lists.
fn assert_same_predictions(got: &serde_json::Value, want: &serde_json::Value, tol: f64, at: &str) {
    match (got, want) {
        (serde_json::Value::Array(g), serde_json::Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{at}: list lengths");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                assert_same_predictions(g, w, tol, &format!("{at}[{i}]"));
            }
        }
        (serde_json::Value::Object(g), serde_json::Value::Object(w)) => {
            assert_eq!(g["token"], w["token"], "{at}: token");
            assert_eq!(g["token_str"], w["token_str"], "{at}: token_str");
            assert_eq!(g["sequence"], w["sequence"], "{at}: sequence");
            let (gs, ws) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
            assert!((gs - ws).abs() <= tol, "{at}: score {gs} vs {ws}");
        }
        _ => panic!("{at}: shapes differ: {got} vs {want}"),
    }
}

#[test]
fn fill_mask_equals_transformers_pipeline() {
    let Some(bert) = load(&root().join("tests/fixtures/tiny-bert")) else {
        return;
    };
    let want: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/tiny-bert-fill-mask.json")).unwrap())
            .unwrap();
    for (text, expected) in &want {
        let got = pollster::block_on(bert.fill_mask(&[text.as_str()], 5)).unwrap();
        assert_same_predictions(&fill_mask_json(&got), expected, 1e-5, text);
    }
    // Several texts in one padded batch give the same answers as one at a time.
    let texts: Vec<&str> = want.keys().map(String::as_str).collect();
    let batched = pollster::block_on(bert.fill_mask(&texts, 5)).unwrap();
    let expected: Vec<serde_json::Value> = want.values().cloned().collect();
    assert_same_predictions(
        &fill_mask_json(&batched),
        &serde_json::Value::Array(expected),
        1e-5,
        "batch",
    );
}

#[test]
fn fill_mask_rejects_text_without_mask_and_empty_text() {
    let Some(bert) = load(&root().join("tests/fixtures/tiny-bert")) else {
        return;
    };
    let err = pollster::block_on(bert.fill_mask(&["the king is here ."], 5)).unwrap_err();
    assert!(err.message.contains("no [MASK]"), "{err}");
    let err = pollster::block_on(bert.fill_mask(&["  "], 5)).unwrap_err();
    assert!(err.message.contains("empty"), "{err}");
}

#[test]
fn fill_mask_needs_an_mlm_head() {
    let Some(bert) = load(&root().join("tests/fixtures/tiny-bertmodel")) else {
        return;
    };
    let err = pollster::block_on(bert.fill_mask(&["the [MASK] ."], 5)).unwrap_err();
    assert!(err.message.contains("masked-language-model head"), "{err}");
}

/// The all-MiniLM-L6-v2 checkpoint: `BERT_WGPU_MINILM`, else models/all-MiniLM-L6-v2 (scripts/fetch-minilm.sh).
fn minilm_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BERT_WGPU_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models/all-MiniLM-L6-v2"));
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok() {
        panic!(
            "CI=true but the all-MiniLM-L6-v2 checkpoint is missing at {} (run scripts/fetch-minilm.sh)",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: no all-MiniLM-L6-v2 checkpoint at {} (run scripts/fetch-minilm.sh)",
        dir.display()
    );
    None
}

#[test]
fn minilm_sentence_embeddings_match_transformers() {
    let Some(dir) = minilm_dir() else { return };
    let Some(bert) = load(&dir) else { return };
    let sentences: Vec<String> =
        serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/minilm-sentences.json")).unwrap()).unwrap();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = pollster::block_on(bert.embed(&refs, Pooling::Mean, true)).unwrap();
    let bytes = std::fs::read(root().join("tests/fixtures/minilm-reference.safetensors")).unwrap();
    let reference = bert_wgpu::io::load(&bytes, "minilm-reference.safetensors").unwrap();
    let want = &reference.iter().find(|(k, _)| k == "sentence_embeddings").unwrap().1;
    assert_eq!(want.shape, vec![sentences.len(), 384]);
    let flat: Vec<f32> = got.concat();
    // Six layers of 384-wide f32 arithmetic on unit vectors: 1e-5 is about 100 ulp of the largest entries.
    common::assert_close("all-MiniLM-L6-v2 sentence_embeddings", &flat, &want.data, 1e-5);
}

#[test]
fn saved_model_directory_loads_back_with_the_same_predictions() {
    let Some(bert) = load(&root().join("tests/fixtures/tiny-bert-gelu-new")) else {
        return;
    };
    let text = "the [MASK] of france is paris .";
    let before = pollster::block_on(bert.fill_mask(&[text], 5)).unwrap();
    let files = pollster::block_on(bert.save_files(bert_wgpu::io::SaveDtype::F32)).unwrap();
    // The file uses today's names (no gamma/beta) and splits the fused QKV projection again.
    let names: Vec<String> = bert_wgpu::io::load(&files.weights, "saved")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&"bert.encoder.layer.1.attention.self.value.bias".to_string()));
    assert!(
        names.iter().all(|n| !n.contains("gamma") && !n.contains("qkv")),
        "{names:?}"
    );
    let config: serde_json::Value = serde_json::from_slice(&files.config).unwrap();
    assert_eq!(config["architectures"][0], "BertForPreTraining");
    assert_eq!(config["hidden_act"], "gelu_new");
    if let Ok(dir) = std::env::var("BERT_WGPU_SAVE_TO") {
        // For checking with transformers by hand: BERT_WGPU_SAVE_TO=/tmp/x cargo test saved_model
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in [("config.json", &files.config), ("model.safetensors", &files.weights)] {
            std::fs::write(Path::new(&dir).join(name), bytes).unwrap();
        }
        for (name, bytes) in [
            ("tokenizer.json", &files.tokenizer_json),
            ("vocab.txt", &files.vocab_txt),
        ] {
            std::fs::write(Path::new(&dir).join(name), bytes.as_ref().unwrap()).unwrap();
        }
    }
    let gpu = common::gpu().unwrap();
    let reloaded = Bert::load(Rc::new(gpu), &files).unwrap();
    let after = pollster::block_on(reloaded.fill_mask(&[text], 5)).unwrap();
    assert_eq!(before, after);
}

/// The model pretrained by this project (pretrained/austen-bert-tiny, f16 weights) gives transformers'
/// fill-mask top-5, as recorded by scripts/check_pretrained.py.
#[test]
fn shipped_pretrained_model_matches_transformers_fill_mask() {
    let dir = root().join("pretrained/austen-bert-tiny");
    let Some(bert) = load(&dir) else { return };
    let want: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("transformers-fill-mask.json")).unwrap()).unwrap();
    assert!(!want.is_empty());
    for (text, expected) in &want {
        let got = pollster::block_on(bert.fill_mask(&[text.as_str()], 5)).unwrap();
        assert_same_predictions(&fill_mask_json(&got), expected, 1e-5, text);
    }
}
