//! Hostile safetensors files: every structural fault the format forbids, non-finite weights and a weight
//! of an integer dtype give one error naming the file and the tensor, never a panic and never a silently
//! accepted file. Where the reference `safetensors` crate has a rule, it refuses the same files.

mod common;

use common::reference_file;

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bert_wgpu::io::{load, load_ints, save, HostTensor, ModelFiles, SaveDtype};
use bert_wgpu::{Bert, ErrorKind};
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};

const FILE: &str = "model.safetensors";

/// An 8-byte length, then the header, then `data`.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A header entry for an F32 tensor of `n` values at data offsets [start, end].
fn f32_entry(n: usize, start: usize, end: usize) -> Value {
    json!({"dtype": "F32", "shape": [n], "data_offsets": [start, end]})
}

/// The error of loading `bytes`, checked to name the file and each of `needles`, and checked to be
/// refused by the reference reader as well (when `reference_refuses`).
fn refused(bytes: &[u8], needles: &[&str], reference_refuses: bool) -> String {
    let error = load(bytes, FILE).expect_err("expected an error");
    assert_eq!(error.kind, ErrorKind::BadFile, "{error}");
    let msg = error.message;
    assert!(msg.starts_with(&format!("{FILE}: ")), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "{msg:?} does not mention {n:?}");
    }
    assert_eq!(
        load_ints(bytes, FILE).unwrap_err().message,
        msg,
        "load_ints checks the structure alike"
    );
    if reference_refuses {
        assert!(
            SafeTensors::deserialize(bytes).is_err(),
            "the reference reader accepts it: {msg}"
        );
    }
    msg
}

#[test]
fn overlapping_data_offsets_are_refused() {
    // b starts inside a.
    let partial = raw(
        &json!({"a": f32_entry(2, 0, 8), "b": f32_entry(2, 4, 12)}).to_string(),
        &[0; 12],
    );
    let msg = refused(&partial, &["tensor b", "overlap", "tensor a"], true);
    assert!(msg.contains("[4, 12]"), "{msg}");
    // Two names for the same bytes.
    let alias = raw(
        &json!({"a": f32_entry(2, 0, 8), "b": f32_entry(2, 0, 8), "c": f32_entry(2, 8, 16)}).to_string(),
        &[0; 16],
    );
    refused(&alias, &["tensor b", "overlap", "tensor a"], true);
    // An empty tensor placed inside another's bytes.
    let empty_inside = raw(
        &json!({
            "a": f32_entry(2, 0, 8),
            "z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]},
        })
        .to_string(),
        &[0; 8],
    );
    refused(&empty_inside, &["tensor z", "overlap", "tensor a"], true);
}

#[test]
fn gaps_between_data_offsets_are_refused() {
    let at_start = raw(&json!({"a": f32_entry(1, 4, 8)}).to_string(), &[0; 8]);
    refused(&at_start, &["tensor a", "[0, 4] unused at the start"], true);
    let between = raw(
        &json!({"a": f32_entry(1, 0, 4), "b": f32_entry(1, 8, 12)}).to_string(),
        &[0; 12],
    );
    refused(&between, &["tensor b", "[4, 8] unused after tensor a"], true);
    // A header entry dropped from a valid file leaves a hole.
    let t = HostTensor {
        shape: vec![2],
        data: vec![1.0, 2.0],
    };
    let good = save(&[("a", &t), ("b", &t), ("c", &t)], SaveDtype::F32, None).unwrap();
    let (header, data) = split(&good);
    let mut header = header;
    header.as_object_mut().unwrap().remove("b");
    refused(
        &raw(&header.to_string(), data),
        &["tensor c", "unused after tensor a"],
        true,
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let after = raw(&json!({"a": f32_entry(1, 0, 4)}).to_string(), &[0; 7]);
    let msg = refused(&after, &["3 bytes after the last tensor"], true);
    assert!(msg.contains("end at offset 4"), "{msg}");
    let no_tensors = raw(r#"{"__metadata__": {"format": "pt"}}"#, &[1, 2, 3, 4]);
    refused(&no_tensors, &["4 bytes after the last tensor"], true);
    // A valid file with something appended (two files concatenated, a partial overwrite).
    let t = HostTensor {
        shape: vec![3],
        data: vec![1.0, 2.0, 3.0],
    };
    let mut appended = save(&[("w", &t)], SaveDtype::F16, None).unwrap();
    appended.extend_from_slice(&appended.clone());
    refused(&appended, &["bytes after the last tensor"], true);
}

#[test]
fn tiled_offsets_in_any_header_order_load() {
    // The header lists tensors in an order other than their data; empty tensors share a start with a
    // full one and with each other. All legal, and the reference reader agrees.
    let header = json!({
        "c": f32_entry(1, 8, 12),
        "z_empty": {"dtype": "F16", "shape": [4, 0], "data_offsets": [4, 4]},
        "a": f32_entry(1, 0, 4),
        "b": f32_entry(1, 4, 8),
        "y_empty": {"dtype": "I64", "shape": [0], "data_offsets": [12, 12]},
        "x_empty": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
    });
    let data: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = raw(&header.to_string(), &data);
    let st = SafeTensors::deserialize(&bytes).expect("the reference reader accepts it");
    assert_eq!(st.len(), 6);
    let loaded = load(&bytes, FILE).unwrap();
    let names: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x_empty", "a", "z_empty", "b", "c"], "in the order of the data");
    let values: Vec<&[f32]> = loaded.iter().map(|(_, t)| t.data.as_slice()).collect();
    assert_eq!(values, [&[][..], &[1.0], &[], &[2.0], &[3.0]]);
    assert_eq!(loaded[2].1.shape, [4, 0]);
    let ints = load_ints(&bytes, FILE).unwrap();
    assert_eq!((ints[0].0.as_str(), ints[0].1.data.len()), ("y_empty", 0));
    // A file of nothing but empty tensors, and one of no tensors at all.
    let empties = raw(
        &json!({"e": {"dtype": "BF16", "shape": [0, 768], "data_offsets": [0, 0]}}).to_string(),
        &[],
    );
    assert_eq!(load(&empties, FILE).unwrap()[0].1.shape, [0, 768]);
    assert!(load(&raw("{}", &[]), FILE).unwrap().is_empty());
    let null_metadata = raw(r#"{"__metadata__": null}"#, &[]);
    assert!(SafeTensors::deserialize(&null_metadata).is_ok());
    assert!(load(&null_metadata, FILE).unwrap().is_empty());
}

#[test]
fn duplicate_names_are_refused() {
    // serde_json keeps one of two equal keys: the other tensor would be dropped without a word.
    let tiled = raw(
        r#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
        &[0; 8],
    );
    refused(&tiled, &["names w twice"], true);
    // The same entry twice: the reference reader keeps one and accepts the file; it is still corrupt.
    let same = raw(
        r#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#,
        &[0; 4],
    );
    refused(&same, &["names w twice"], false);
    let metadata_twice = raw(
        r#"{"__metadata__": {"format": "pt"}, "__metadata__": {"format": "np"}}"#,
        &[],
    );
    refused(&metadata_twice, &["names __metadata__ twice"], false);
}

#[test]
fn headers_that_are_not_objects_or_have_bad_metadata_are_refused() {
    for header in ["[]", "\"weights\"", "42", "null", "true"] {
        refused(&raw(header, &[]), &["header is not a JSON object"], true);
    }
    let long = "x".repeat(1000);
    for (metadata, fault) in [
        (json!("pt"), r#"found "pt""#.to_string()),
        (json!(7), "found 7".to_string()),
        (json!(["format", "pt"]), r#"found ["format","pt"]"#.to_string()),
        (json!({"format": "pt", "step": 7}), r#""step" is 7"#.to_string()),
        (json!({"nested": {"a": "b"}}), r#""nested" is {"a":"b"}"#.to_string()),
        (json!({"flag": null}), r#""flag" is null"#.to_string()),
        (json!([long]), format!(r#"found ["{}..."#, "x".repeat(38))),
    ] {
        let header = json!({"__metadata__": metadata, "w": f32_entry(1, 0, 4)});
        let msg = refused(
            &raw(&header.to_string(), &[0; 4]),
            &["__metadata__", "map of strings"],
            true,
        );
        assert!(msg.ends_with(&format!("map of strings to strings: {fault}")), "{msg}");
    }
}

#[test]
fn absurd_header_lengths_are_refused_without_reading_them() {
    // A claim past the end of the file: 2^60 bytes, u64::MAX.
    for claim in [1u64 << 60, u64::MAX] {
        let mut bytes = claim.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let msg = refused(&bytes, &["truncated or corrupt", &claim.to_string()], true);
        assert!(msg.contains("only 2 follow"), "{msg}");
    }
    // A header longer than the format allows, even though the file holds it.
    let n = 100_000_001usize;
    let mut bytes = (n as u64).to_le_bytes().to_vec();
    bytes.push(b'{');
    bytes.resize(8 + n - 1, b' ');
    bytes.push(b'}');
    refused(&bytes, &["100000001 bytes", "limit of 100000000"], true);
}

#[test]
fn shapes_whose_size_overflows_are_refused() {
    for shape in [
        json!([4294967296u64, 4294967296u64]),
        json!([usize::MAX]),
        json!([1u64 << 62]),
        json!([3, 1u64 << 62, 2]),
    ] {
        let header = json!({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 8]}});
        refused(
            &raw(&header.to_string(), &[0; 8]),
            &["tensor w", "shape", "too large"],
            true,
        );
    }
    // A zero anywhere makes an empty tensor, however large the other dimensions.
    let header = json!({"w": {"dtype": "F32", "shape": [1u64 << 62, 0], "data_offsets": [0, 0]}});
    let bytes = raw(&header.to_string(), &[]);
    assert!(SafeTensors::deserialize(&bytes).is_ok());
    assert_eq!(load(&bytes, FILE).unwrap()[0].1.data.len(), 0);
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn non_finite_values_are_refused_naming_tensor_and_index() {
    let ok = f32_bytes(&[1.0, 2.0]);
    let f16 = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect() };
    let bf16 = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect() };
    let f64 = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let cases: Vec<(Dtype, Vec<u8>, &str, &str)> = vec![
        (Dtype::F32, f32_bytes(&[0.5, 1.0, f32::NAN, f32::NAN]), "value 2", "NaN"),
        (
            Dtype::F32,
            f32_bytes(&[f32::NEG_INFINITY, 0.0, 0.0, 0.0]),
            "value 0",
            "-inf",
        ),
        (Dtype::F16, f16(&[0.0, 65504.0, 0.0, f32::INFINITY]), "value 3", "inf"),
        (Dtype::F16, f16(&[f32::NAN, 0.0, 0.0, 0.0]), "value 0", "NaN"),
        (
            Dtype::BF16,
            bf16(&[1.0, f32::NEG_INFINITY, 0.0, 0.0]),
            "value 1",
            "-inf",
        ),
        (Dtype::BF16, bf16(&[1.0, 2.0, 3.0, f32::NAN]), "value 3", "NaN"),
        (Dtype::F64, f64(&[0.0, f64::NAN, 0.0, 0.0]), "value 1", "NaN"),
        (Dtype::F64, f64(&[0.0, 0.0, f64::INFINITY, 0.0]), "value 2", "inf"),
        (
            Dtype::F64,
            f64(&[0.0, 0.0, 0.0, 1e300]),
            "value 3",
            "1e300, beyond the range of f32",
        ),
        (
            Dtype::F64,
            f64(&[-4e38, 0.0, 0.0, 0.0]),
            "value 0",
            "-4e38, beyond the range of f32",
        ),
    ];
    for (dtype, bytes, index, value) in cases {
        let file = reference_file(&[("ok", Dtype::F32, &[2], ok.clone()), ("w", dtype, &[2, 2], bytes)]);
        let msg = load(&file, FILE).expect_err("expected an error").message;
        for n in ["model.safetensors: tensor w:", index, value, "[2, 2]", "must be finite"] {
            assert!(msg.contains(n), "{msg:?} does not mention {n:?}");
        }
        // The structure is sound: the integer reader still reads the file.
        assert!(load_ints(&file, FILE).unwrap().is_empty());
    }
    // The largest finite values of each dtype load.
    let file = reference_file(&[
        ("a", Dtype::F16, &[2], f16(&[65504.0, -65504.0])),
        ("b", Dtype::F64, &[2], f64(&[f32::MAX as f64, f32::MIN as f64])),
        ("c", Dtype::BF16, &[1], bf16(&[half::bf16::MAX.to_f32()])),
    ]);
    assert_eq!(load(&file, FILE).unwrap().len(), 3);
}

/// The header and data of a file.
fn split(bytes: &[u8]) -> (Value, &[u8]) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), &bytes[8 + n..])
}

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(p)
}

/// The tiny model's weights with `name` stored as `dtype` (values cast), written by the reference writer.
fn tiny_bert_with_dtype(name: &str, dtype: Dtype) -> Vec<u8> {
    let weights = std::fs::read(fixture("tiny-bert/model.safetensors")).unwrap();
    let tensors = load(&weights, FILE).unwrap();
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, t)| match dtype {
            Dtype::I64 if n == name => (
                n,
                dtype,
                t.shape,
                t.data.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect(),
            ),
            Dtype::I32 if n == name => (
                n,
                dtype,
                t.shape,
                t.data.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect(),
            ),
            _ => (n, Dtype::F32, t.shape, f32_bytes(&t.data)),
        })
        .collect();
    let tensors: Vec<(&str, Dtype, &[usize], Vec<u8>)> = bytes
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, &s[..], b.clone()))
        .collect();
    reference_file(&tensors)
}

#[test]
fn a_weight_of_an_integer_dtype_is_named_with_its_dtype() {
    use bert_wgpu::io::safetensors::missing_float;
    let i64_file = tiny_bert_with_dtype("bert.encoder.layer.1.attention.self.key.weight", Dtype::I64);
    let msg = missing_float(&i64_file, FILE, "bert.encoder.layer.1.attention.self.key.weight").message;
    assert_eq!(
        msg,
        "model.safetensors: tensor bert.encoder.layer.1.attention.self.key.weight has dtype I64, but a \
         floating-point dtype (F32, F16, BF16 or F64) is needed"
    );
    assert_eq!(
        missing_float(&i64_file, FILE, "bert.nope").message,
        "model.safetensors: missing tensor bert.nope"
    );
    let Some(gpu) = common::gpu() else { return };
    let gpu = Rc::new(gpu);
    let dir = fixture("tiny-bert");
    let files = |weights: Vec<u8>| ModelFiles {
        weights,
        ..common::read_model_dir(&dir)
    };
    // An encoder weight, an embedding, a pooler weight (optional: looked up before it is taken), an MLM
    // head bias.
    for (name, dtype) in [
        ("bert.encoder.layer.1.attention.self.key.weight", Dtype::I64),
        ("bert.embeddings.word_embeddings.weight", Dtype::I32),
        ("bert.pooler.dense.weight", Dtype::I64),
        ("cls.predictions.transform.dense.weight", Dtype::I32),
    ] {
        let msg = match Bert::load(gpu.clone(), &files(tiny_bert_with_dtype(name, dtype))) {
            Ok(_) => panic!("{name} as {dtype:?} loaded"),
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::BadFile, "{e}");
                e.message
            }
        };
        let dtype = format!("{dtype:?}");
        assert_eq!(
            msg,
            format!(
                "model.safetensors: tensor {name} has dtype {dtype}, but a floating-point dtype (F32, F16, BF16 \
                 or F64) is needed"
            )
        );
    }
}

/// Errors carry their kind, which the browser's codes come from: a batch or tensor beyond the adapter's
/// limits is `Limits`, a config that does not parse is `BadFile`, a bad argument is `Input`.
#[test]
fn errors_carry_their_kind() {
    let config = bert_wgpu::BertConfig::from_json(b"{\"hidden_size\": \"wide\"}").unwrap_err();
    assert_eq!(config.kind, ErrorKind::BadFile, "{config}");
    let Some(gpu) = common::gpu() else { return };
    let too_many = gpu.zeros(&[usize::MAX / 8], "huge").unwrap_err();
    assert_eq!(too_many.kind, ErrorKind::Limits, "{too_many}");
    let tiny =
        bert_wgpu::BertConfig::from_json(&std::fs::read(fixture("tiny-bert").join("config.json")).unwrap()).unwrap();
    let batch = bert_wgpu::model::check_fits(&gpu, &tiny, 1 << 20, 512).unwrap_err();
    assert_eq!(batch.kind, ErrorKind::Limits, "{batch}");
    let shape = gpu.upload(&[1.0, 2.0], &[3], "short").unwrap_err();
    assert_eq!(shape.kind, ErrorKind::Input, "{shape}");
}

/// Runs and returns (exit code, stderr).
fn run(cmd: &mut std::process::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A copy of the tiny model in a scratch directory with `model.safetensors` replaced.
fn model_with_weights(name: &str, weights: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture("tiny-bert")).unwrap() {
        let e = entry.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    std::fs::write(dir.join(FILE), weights).unwrap();
    dir
}

#[test]
fn fill_mask_refuses_a_nan_weight_or_overlapping_offsets_in_one_line() {
    if common::gpu().is_none() {
        return;
    }
    let weights = std::fs::read(fixture("tiny-bert/model.safetensors")).unwrap();
    let bad = "bert.encoder.layer.0.output.dense.weight";
    // Value 70 of that weight becomes NaN in the file's bytes (`save` refuses to write a NaN).
    let nan = {
        let (header, data) = split(&weights);
        let at = header[bad]["data_offsets"][0].as_u64().unwrap() as usize + 70 * 4;
        let mut data = data.to_vec();
        data[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        raw(&header.to_string(), &data)
    };
    // The value bias takes the bytes of the key bias (same size): an overlap, and a hole where it was.
    let (mut header, data) = split(&weights);
    header["bert.encoder.layer.1.attention.self.value.bias"]["data_offsets"] =
        header["bert.encoder.layer.1.attention.self.key.bias"]["data_offsets"].clone();
    let overlapping = raw(&header.to_string(), data);
    for (dir, needles) in [
        ("hostile-nan", vec![bad, "value 70", "NaN"]),
        (
            "hostile-overlap",
            vec![
                "bert.encoder.layer.1.attention.self.value.bias",
                "overlap",
                "bert.encoder.layer.1.attention.self.key.bias",
            ],
        ),
    ] {
        let model = model_with_weights(dir, if dir == "hostile-nan" { &nan } else { &overlapping });
        let (code, err) = run(common::bin()
            .args(["fill-mask", "--model"])
            .arg(&model)
            .arg("the [MASK] ."));
        assert_eq!(code, 3, "expected the exit status of a bad file; stderr: {err}");
        assert!(!err.contains("panicked"), "panic instead of an error: {err}");
        let about_the_file: Vec<&str> = err.lines().filter(|l| l.contains("model.safetensors")).collect();
        assert_eq!(about_the_file.len(), 1, "one line: {err}");
        let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        assert_eq!(last, about_the_file[0], "the error is the last line: {err}");
        for n in needles {
            assert!(last.contains(n), "{last:?} does not mention {n:?}");
        }
    }
}

/// What `load` refuses is never written: `save` refuses values that are not finite, or that overflow F16.
#[test]
fn values_a_loader_would_refuse_are_not_saved() {
    use bert_wgpu::io::{save, HostTensor, SaveDtype};
    for (dtype, bad) in [
        (SaveDtype::F32, f32::NAN),
        (SaveDtype::F32, f32::INFINITY),
        (SaveDtype::F16, f32::NEG_INFINITY),
        (SaveDtype::F16, 70000.0),
        (SaveDtype::F16, -1e9),
    ] {
        let t = HostTensor {
            shape: vec![3],
            data: vec![1.0, bad, 2.0],
        };
        let err = save(&[("w", &t)], dtype, None).unwrap_err();
        assert!(err.message.contains("tensor w: value 1"), "{dtype:?} {bad}: {err}");
    }
    let fine = HostTensor {
        shape: vec![2],
        data: vec![65504.0, -1e-9],
    };
    assert!(save(&[("w", &fine)], SaveDtype::F16, None).is_ok());
}
