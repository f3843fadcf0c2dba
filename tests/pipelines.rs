//! Fill-mask and embeddings end to end: against transformers' pipeline output for the tiny fixture model,
//! and against sentence embeddings of the real all-MiniLM-L6-v2 checkpoint recorded from transformers.

mod common;

use std::path::Path;
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

/// The model of a tests/fixtures directory.
fn load_fixture(name: &str) -> Option<Bert> {
    load(&common::fixture(name))
}

/// Asserts that fill-mask refuses `text` with an error that mentions `needle`.
fn assert_fill_mask_refuses(bert: &Bert, text: &str, needle: &str) {
    let err = pollster::block_on(bert.fill_mask(&[text], 5)).unwrap_err();
    assert!(err.message.contains(needle), "{err}");
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
    let Some(bert) = load_fixture("tiny-bert") else { return };
    let want: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(common::fixture("tiny-bert-fill-mask.json")).unwrap()).unwrap();
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
    let Some(bert) = load_fixture("tiny-bert") else { return };
    assert_fill_mask_refuses(&bert, "the king is here .", "no [MASK]");
    assert_fill_mask_refuses(&bert, "  ", "empty");
}

#[test]
fn fill_mask_needs_an_mlm_head() {
    let Some(bert) = load_fixture("tiny-bertmodel") else {
        return;
    };
    assert_fill_mask_refuses(&bert, "the [MASK] .", "masked-language-model head");
}

#[test]
fn minilm_sentence_embeddings_match_transformers() {
    let Some(dir) = common::minilm_dir(&["model.safetensors"]) else {
        return;
    };
    let Some(bert) = load(&dir) else { return };
    let sentences: Vec<String> =
        serde_json::from_slice(&std::fs::read(common::fixture("minilm-sentences.json")).unwrap()).unwrap();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = pollster::block_on(bert.embed(&refs, Pooling::Mean, true)).unwrap();
    let bytes = std::fs::read(common::fixture("minilm-reference.safetensors")).unwrap();
    let reference = bert_wgpu::io::load(&bytes, "minilm-reference.safetensors").unwrap();
    let want = &reference.iter().find(|(k, _)| k == "sentence_embeddings").unwrap().1;
    assert_eq!(want.shape, vec![sentences.len(), 384]);
    let flat: Vec<f32> = got.concat();
    // Six layers of 384-wide f32 arithmetic on unit vectors: 1e-5 is about 100 ulp of the largest entries.
    common::assert_close("all-MiniLM-L6-v2 sentence_embeddings", &flat, &want.data, 1e-5);
}

#[test]
fn saved_model_directory_loads_back_with_the_same_predictions() {
    let Some(bert) = load_fixture("tiny-bert-gelu-new") else {
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

/// `Bert::predict` refuses inputs its head cannot take, naming the input, and gives the same results in
/// batches of any size.
#[test]
fn predict_checks_inputs_against_the_head_and_batches_alike() {
    use bert_wgpu::tasks::pipeline::{PredictInput, Prediction};
    let finetuned = |name: &str| load(&root().join("tests/fixtures/finetune/trained").join(name));
    let (Some(pair), Some(ner), Some(qa)) = (finetuned("pair"), finetuned("ner"), finetuned("qa")) else {
        return;
    };
    let text = |t: &str, p: Option<&str>| PredictInput::Text {
        text: t.into(),
        text_pair: p.map(str::to_string),
    };
    let question = PredictInput::Question {
        question: "who went ?".into(),
        context: "the king went to paris .".into(),
    };
    let err = |bert: &Bert, inputs: &[PredictInput]| {
        pollster::block_on(bert.predict(inputs, 2, Default::default()))
            .unwrap_err()
            .message
    };
    let mixed = [text("the king went .", Some("he went")), text("the queen .", None)];
    assert!(err(&pair, &mixed).contains("some inputs have a text_pair and some do not"));
    assert!(err(&pair, &[text("a", None), question.clone()]).contains("inputs[1]"));
    assert!(err(&pair, &[]).contains("no inputs"));
    assert!(err(&ner, &[text("a", Some("b"))]).contains("single texts, not pairs"));
    assert!(err(&qa, &[question.clone(), text("a", None)]).contains("inputs[1]: question answering"));

    let inputs = [
        text("the king went to paris .", Some("the king went to paris")),
        text("my mother ate the bread .", Some("my mother did not eat the bread")),
        text("the boy walked home at night .", Some("the queen told the truth")),
    ];
    let whole = pollster::block_on(pair.predict(&inputs, 8, Default::default())).unwrap();
    let in_twos = pollster::block_on(pair.predict(&inputs, 2, Default::default())).unwrap();
    assert_eq!(whole.len(), 3);
    for (a, b) in whole.iter().zip(&in_twos) {
        let (Prediction::Labels(a), Prediction::Labels(b)) = (a, b) else {
            panic!("{a:?} / {b:?}")
        };
        assert_eq!(
            a.iter().map(|s| &s.label).collect::<Vec<_>>(),
            b.iter().map(|s| &s.label).collect::<Vec<_>>()
        );
        assert!(
            a.iter().zip(b).all(|(x, y)| (x.score - y.score).abs() < 1e-5),
            "{a:?} / {b:?}"
        );
    }
}
