//! safetensors load/save: round trips, other dtypes written by the reference `safetensors` crate, and
//! corrupt input, which must give an error naming the file, never a panic.

mod common;

use std::collections::HashMap;

use bert_wgpu::io::{load, load_ints, save, HostTensor, ModelFiles, SaveDtype};
use common::reference_file;
use safetensors::{Dtype, SafeTensors};

fn tensor(shape: &[usize], f: impl Fn(usize) -> f32) -> HostTensor {
    let n = shape.iter().product();
    HostTensor {
        shape: shape.to_vec(),
        data: (0..n).map(f).collect(),
    }
}

fn sample() -> Vec<(String, HostTensor)> {
    vec![
        (
            "bert.pooler.dense.weight".to_string(),
            tensor(&[3, 4], |i| i as f32 * 0.37 - 1.5),
        ),
        ("bert.pooler.dense.bias".to_string(), tensor(&[3], |i| 1e-3 * i as f32)),
        ("scalar".to_string(), tensor(&[], |_| 65504.0)),
        ("empty".to_string(), tensor(&[0, 5], |_| 0.0)),
    ]
}

fn err<T: std::fmt::Debug>(r: bert_wgpu::Result<T>) -> String {
    r.expect_err("expected an error").message
}

#[test]
fn f32_round_trip() {
    let tensors = sample();
    let refs: Vec<(&str, &HostTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let bytes = save(&refs, SaveDtype::F32, None).unwrap();
    let mut want = tensors.clone();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(load(&bytes, "model.safetensors").unwrap(), want);
    // The reference reader accepts it, with the metadata transformers requires.
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), 4);
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");
}

#[test]
fn f16_round_trip_rounds_to_nearest() {
    let tensors = sample();
    let refs: Vec<(String, &HostTensor)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    let meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("step".to_string(), "7".to_string()),
    ]);
    let bytes = save(&refs, SaveDtype::F16, Some(meta)).unwrap();
    let (_, m) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(m.metadata().as_ref().unwrap()["step"], "7");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("scalar").unwrap().dtype(), Dtype::F16);
    for (name, got) in load(&bytes, "x.safetensors").unwrap() {
        let orig = &tensors.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(got.shape, orig.shape, "{name}");
        let want: Vec<f32> = orig.data.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        assert_eq!(got.data, want, "{name}");
    }
}

#[test]
fn other_float_dtypes_load_as_f32() {
    let vals = [1.5f32, -2.25, 0.0, 384.0];
    let bf16: Vec<u8> = vals
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let f16: Vec<u8> = vals
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let f64: Vec<u8> = vals.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect();
    let bytes = reference_file(&[
        ("a", Dtype::BF16, &[2, 2], bf16),
        ("b", Dtype::F16, &[4], f16),
        ("c", Dtype::F64, &[4, 1], f64),
    ]);
    let loaded = load(&bytes, "model.safetensors").unwrap();
    let names: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
    // File order: the reference writer puts wider dtypes first.
    assert_eq!(names, ["c", "a", "b"]);
    for (name, t) in &loaded {
        assert_eq!(t.data, vals, "{name}");
    }
    assert_eq!(loaded[0].1.shape, [4, 1]);
}

#[test]
fn int64_tensors_load_apart() {
    let ids: Vec<i64> = vec![101, 7592, 2088, 102, 0, -1];
    let bytes = reference_file(&[
        (
            "input_ids",
            Dtype::I64,
            &[2, 3],
            ids.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            "labels",
            Dtype::I32,
            &[2],
            [3i32, -100].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            "logits",
            Dtype::F32,
            &[2],
            [0.5f32, -0.5].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    ]);
    let floats = load(&bytes, "inputs.safetensors").unwrap();
    assert_eq!(floats.len(), 1);
    assert_eq!(floats[0].0, "logits");
    let ints = load_ints(&bytes, "inputs.safetensors").unwrap();
    assert_eq!(ints.len(), 2);
    let input_ids = &ints.iter().find(|(n, _)| n == "input_ids").unwrap().1;
    assert_eq!(
        (input_ids.shape.as_slice(), input_ids.data.as_slice()),
        (&[2, 3][..], ids.as_slice())
    );
    let labels = &ints.iter().find(|(n, _)| n == "labels").unwrap().1;
    assert_eq!(labels.data, [3, -100]);
}

/// An 8-byte length, then the header, then `data`.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn corrupt_files_give_errors_that_name_the_file() {
    let f = "model.safetensors";
    assert_eq!(err(load(&[], f)), "model.safetensors: empty file");
    assert!(err(load(&[1, 2, 3], f)).starts_with("model.safetensors: truncated or corrupt:"));
    // A header length past the end (also the first 8 bytes of a text file).
    assert!(err(load(b"not a safetensors file", f)).starts_with("model.safetensors: truncated or corrupt:"));
    assert!(err(load(&raw("{not json", &[]), f)).starts_with("model.safetensors: header is not a JSON object"));
    assert!(err(load(&raw("[1, 2]", &[]), f)).starts_with("model.safetensors: header is not a JSON object"));
    let u8_file = raw(
        r#"{"x": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}"#,
        &[1, 2],
    );
    assert_eq!(
        err(load(&u8_file, f)),
        "model.safetensors: tensor x: dtype U8 is not supported"
    );
    assert!(err(load_ints(&u8_file, f)).contains("dtype U8 is not supported"));
    let out_of_range = raw(
        r#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#,
        &[0; 8],
    );
    let msg = err(load(&out_of_range, f));
    assert!(
        msg.starts_with("model.safetensors: truncated or corrupt: tensor w:") && msg.contains("out of range"),
        "{msg}"
    );
    let wrong_size = raw(
        r#"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#,
        &[0; 8],
    );
    assert!(err(load(&wrong_size, f)).contains("tensor w: data offsets [0, 8] do not hold shape [3]"));
    let huge = raw(
        r#"{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}"#,
        &[0; 8],
    );
    assert!(err(load(&huge, f)).contains("tensor w: shape"));
    let bad_entry = raw(
        r#"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}"#,
        &[0; 8],
    );
    assert!(err(load(&bad_entry, f)).starts_with("model.safetensors: tensor w: bad header entry"));
    // A cut-off download.
    let t = tensor(&[16], |i| i as f32);
    let good = save(&[("w", &t)], SaveDtype::F32, None).unwrap();
    let msg = err(load(&good[..good.len() - 3], f));
    assert!(
        msg.starts_with("model.safetensors: truncated or corrupt: tensor w:"),
        "{msg}"
    );
}

#[test]
fn no_byte_input_panics() {
    let t = tensor(&[2, 3], |i| i as f32);
    let ids = HostTensor {
        shape: vec![2],
        data: vec![1.0, 2.0],
    };
    let good = save(&[("a", &t), ("b", &ids)], SaveDtype::F16, None).unwrap();
    // Every prefix is an error.
    for n in 0..good.len() {
        assert!(load(&good[..n], "f").is_err(), "prefix of {n} bytes");
        assert!(load_ints(&good[..n], "f").is_err(), "prefix of {n} bytes");
    }
    // Every single-byte change, three ways: a result either way, no panic.
    for i in 0..good.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= x;
            let _ = load(&bad, "f");
            let _ = load_ints(&bad, "f");
        }
    }
    // Random bytes, with and without a plausible header length.
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..2000 {
        let len = (next() % 200) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && len >= 8 {
            bytes[..8].copy_from_slice(&(next() % (len as u64 - 7)).to_le_bytes());
        }
        let _ = load(&bytes, "f");
        let _ = load_ints(&bytes, "f");
    }
}

#[test]
fn save_checks_shapes_and_names() {
    let t = tensor(&[2, 3], |i| i as f32);
    let bad = HostTensor {
        shape: vec![4],
        data: vec![0.0; 3],
    };
    assert_eq!(
        err(save(&[("w", &bad)], SaveDtype::F32, None)),
        "tensor w: shape [4] does not hold 3 values"
    );
    assert!(err(save(&[("w", &t), ("w", &t)], SaveDtype::F32, None)).contains("tensor w"));
    assert!(save::<&str>(&[], SaveDtype::F32, None).is_ok());
}

#[test]
fn model_files_from_named() {
    let files = vec![
        ("config.json".to_string(), b"{}".to_vec()),
        ("model.safetensors".to_string(), vec![1]),
        ("vocab.txt".to_string(), b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\n".to_vec()),
        ("README.md".to_string(), vec![]),
    ];
    let m = ModelFiles::from_named(files).unwrap();
    assert_eq!((m.config.as_slice(), m.weights.as_slice()), (&b"{}"[..], &[1u8][..]));
    assert!(m.tokenizer_json.is_none() && m.vocab_txt.is_some());
    assert_eq!(m.tokenizer().unwrap().encode("hi", None).unwrap().ids, [2, 4, 3]);
    let msg = err(ModelFiles::from_named(vec![("config.json".to_string(), vec![])]));
    assert_eq!(msg, "model directory has no model.safetensors");
}
