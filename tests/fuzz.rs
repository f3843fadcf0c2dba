//! Fuzz targets as property tests: every reader of untrusted files gets mutations of the seed files under
//! `tests/fuzz/corpus/<target>/` (bit flips, byte changes, truncations, insertions, removals, splices
//! with another seed, numbers of the JSON replaced by edge values, random bytes) and must return `Ok` or
//! `Err`: never panic, never hang, never allocate beyond [`ALLOCATION_LIMIT`] at once. A fixed number of
//! cases per target keeps the file to well under a minute in release mode. Inputs proptest finds failing
//! are kept under `tests/fuzz/proptest-regressions/` and replayed first on every run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use bert_wgpu::io::{load, load_ints};
use bert_wgpu::tasks::sequence::parse_text_examples;
use bert_wgpu::tasks::span::parse_qa_examples;
use bert_wgpu::tasks::token::parse_token_examples;
use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::BertConfig;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

/// The largest single allocation a reader may make for these inputs (all under 10 KB): far above any
/// honest need, far below what a header claiming 2^60 elements would ask for.
const ALLOCATION_LIMIT: usize = 64 << 20;

/// The system allocator, noting on each thread the largest allocation asked for.
struct Watched;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Watched {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Watched = Watched;

/// Runs `f` and fails when it allocated more than [`ALLOCATION_LIMIT`] at once.
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    LARGEST.with(|l| l.set(0));
    let out = f();
    let largest = LARGEST.with(Cell::get);
    prop_assert!(largest <= ALLOCATION_LIMIT, "{what} allocated {largest} bytes at once");
    Ok(out)
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target)
}

/// The seed files of a target, by name, sorted.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir(target))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

/// Numbers a mutation puts in place of a number of a JSON text: limits of the integer types, values past
/// them, non-finite and non-numeric ones.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "3",
    "7",
    "0.5",
    "-0.0",
    "1e-400",
    "1e400",
    "-1e400",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1152921504606846976",
    "100000000",
    "NaN",
    "null",
    "true",
    "\"7\"",
    "[]",
    "{}",
];

/// One change to a byte string. Positions are fractions of the length at the time of the change.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    /// Copies the bytes from position `.2` of seed `.1` (up to `.3` of them) over the input from `.0` on.
    Splice(Index, Index, Index, usize),
    /// Repeats a range of the input right after itself.
    Duplicate(Index, usize),
    /// Replaces the `.0`-th number of the text with an edge value.
    Number(Index, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>(), 1..256usize)
            .prop_map(|(i, s, j, n)| Mutation::Splice(i, s, j, n)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        4 => (any::<Index>(), prop::sample::select(EDGE_NUMBERS)).prop_map(|(i, n)| Mutation::Number(i, n)),
    ]
}

/// An input for a target: a seed with some mutations, or (one case in ten) random bytes.
#[derive(Debug, Clone)]
enum Input {
    Mutated(Index, Vec<Mutation>),
    Random(Vec<u8>),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        9 => (any::<Index>(), prop::collection::vec(mutation(), 1..5)).prop_map(|(s, m)| Input::Mutated(s, m)),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Input::Random),
    ]
}

/// `i` as a position between bytes of a string of `len` bytes: `0..=len`.
fn at(i: &Index, len: usize) -> usize {
    i.index(len + 1)
}

/// The byte ranges of the numbers of a text (a digit, or a minus sign before one, and what follows).
fn numbers(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts =
            bytes[i].is_ascii_digit() || (bytes[i] == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        let continues = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
        if starts && (i == 0 || !continues(bytes[i - 1])) {
            let end = (i + 1..bytes.len())
                .find(|&j| !continues(bytes[j]))
                .unwrap_or(bytes.len());
            out.push((i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation], seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::FlipBit(i, bit) if len > 0 => bytes[i.index(len)] ^= 1 << bit,
            Mutation::SetByte(i, b) if len > 0 => bytes[i.index(len)] = *b,
            Mutation::Truncate(i) => bytes.truncate(at(i, len)),
            Mutation::Insert(i, new) => {
                let p = at(i, len);
                bytes.splice(p..p, new.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let p = at(i, len);
                bytes.drain(p..(p + n).min(len));
            }
            Mutation::Splice(i, s, j, n) => {
                let other = &seeds[s.index(seeds.len())].1;
                let from = at(j, other.len());
                let piece = &other[from..(from + n).min(other.len())];
                let p = at(i, len);
                bytes.splice(p..(p + piece.len()).min(len), piece.iter().copied());
            }
            Mutation::Duplicate(i, n) => {
                let p = at(i, len);
                let piece = bytes[p..(p + n).min(len)].to_vec();
                bytes.splice(p..p, piece);
            }
            Mutation::Number(i, value) => {
                let found = numbers(&bytes);
                if !found.is_empty() {
                    let (start, end) = found[i.index(found.len())];
                    bytes.splice(start..end, value.bytes());
                }
            }
            _ => {}
        }
    }
    bytes
}

/// The bytes of an input, and the name of the seed it grew from (`random` for random bytes).
fn realise(input: &Input, seeds: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    match input {
        Input::Mutated(s, mutations) => {
            let (name, bytes) = &seeds[s.index(seeds.len())];
            (name.clone(), apply(bytes.clone(), mutations, seeds))
        }
        Input::Random(bytes) => ("random".to_string(), bytes.clone()),
    }
}

fn persistence(file: &'static str) -> Option<Box<dyn proptest::test_runner::FailurePersistence>> {
    Some(Box::new(FileFailurePersistence::Direct(file)))
}

/// A fixed number of cases, failures kept in `file`.
fn config(cases: u32, file: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: persistence(file),
        ..ProptestConfig::default()
    }
}

macro_rules! regressions {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz/proptest-regressions/",
            $name,
            ".txt"
        )
    };
}

/// Both readers on one file; a file one of them accepts must pass the other's structural checks too.
fn read_safetensors(bytes: &[u8]) -> Result<(), TestCaseError> {
    let floats = bounded("load", || load(bytes, "fuzz.safetensors"))?;
    let ints = bounded("load_ints", || load_ints(bytes, "fuzz.safetensors"))?;
    if let Ok(floats) = &floats {
        prop_assert!(ints.is_ok(), "load accepts what load_ints refuses: {:?}", ints);
        for (name, t) in floats {
            let numel = t.shape.iter().product::<usize>();
            prop_assert_eq!(numel, t.data.len(), "tensor {}", name);
            prop_assert!(
                t.data.iter().all(|v| v.is_finite()),
                "tensor {} holds a non-finite value",
                name
            );
        }
    }
    if let Ok(ints) = &ints {
        for (name, t) in ints {
            prop_assert_eq!(t.shape.iter().product::<usize>(), t.data.len(), "tensor {}", name);
        }
    }
    for e in floats.err().into_iter().chain(ints.err()) {
        prop_assert!(
            e.message.starts_with("fuzz.safetensors: "),
            "error without the file name: {}",
            e.message
        );
    }
    Ok(())
}

/// Where a safetensors mutation applies: the whole file, or the header or data with the length prefix
/// rewritten to match (so that changes reach the checks past the prefix).
#[derive(Debug, Clone)]
enum Part {
    Whole,
    Header,
    Data,
}

fn mutate_safetensors(bytes: &[u8], part: &Part, mutations: &[Mutation], seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
        .filter(|&n| n <= bytes.len() - 8);
    let (Some(n), Part::Header | Part::Data) = (header_len, part) else {
        return apply(bytes.to_vec(), mutations, seeds);
    };
    let (mut header, mut data) = (bytes[8..8 + n].to_vec(), bytes[8 + n..].to_vec());
    match part {
        Part::Header => header = apply(header, mutations, seeds),
        _ => data = apply(data, mutations, seeds),
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    out
}

proptest! {
    #![proptest_config(config(50_000, regressions!("safetensors")))]

    /// (a) The safetensors readers, `load` and `load_ints`.
    #[test]
    fn safetensors_readers_never_panic(
        input in input(),
        part in prop_oneof![Just(Part::Whole), Just(Part::Header), Just(Part::Data)],
    ) {
        let seeds = seeds("safetensors");
        let bytes = match &input {
            Input::Mutated(s, mutations) => mutate_safetensors(&seeds[s.index(seeds.len())].1, &part, mutations, &seeds),
            Input::Random(bytes) => bytes.clone(),
        };
        read_safetensors(&bytes)?;
    }
}

proptest! {
    #![proptest_config(config(30_000, regressions!("config")))]

    /// (b) config.json: `BertConfig::from_json` (which validates). A config it accepts saves and loads
    /// back the same, up to the last bit of a float: serde_json's default float parsing is not exact
    /// (`1e-112` loads as `1.0000000000000001e-112` once saved).
    #[test]
    fn config_parser_never_panics(input in input()) {
        let (_, bytes) = realise(&input, &seeds("config"));
        if let Ok(config) = bounded("from_json", || BertConfig::from_json(&bytes))? {
            prop_assert!(config.validate().is_ok());
            let again = BertConfig::from_json(config.to_json().as_bytes());
            prop_assert!(again.is_ok(), "the saved config does not load: {:?}", again);
            let (a, b) = (serde_json::to_value(&config).unwrap(), serde_json::to_value(again.unwrap()).unwrap());
            prop_assert!(same_up_to_float_rounding(&a, &b), "{} != {}", a, b);
        }
    }
}

/// Equal JSON values, numbers equal within a few units in the last place.
fn same_up_to_float_rounding(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_up_to_float_rounding(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_up_to_float_rounding(v, w)))
        }
        _ => a == b,
    }
}

/// The extensions a task file may be read as: each seed is also read as the other formats.
const TASK_EXTENSIONS: &[&str] = &["tsv", "csv", "jsonl", "json", "conll", "txt"];

/// `name` with its extension replaced by `ext` one case in four.
fn task_file_name(seed: &str, ext: Option<&str>) -> String {
    match ext {
        Some(ext) => format!("{}.{ext}", seed.rsplit_once('.').map_or(seed, |(stem, _)| stem)),
        None => seed.to_string(),
    }
}

fn other_extension() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![3 => Just(None), 1 => prop::sample::select(TASK_EXTENSIONS).prop_map(Some)]
}

proptest! {
    #![proptest_config(config(20_000, regressions!("tasks")))]

    /// (c) Sentence (pair) classification files: TSV, CSV, JSON lines.
    #[test]
    fn text_examples_never_panic(input in input(), ext in other_extension()) {
        let (seed, bytes) = realise(&input, &seeds("text"));
        let name = task_file_name(&seed, ext);
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = bounded("parse_text_examples", || parse_text_examples(&text, &name))? {
            prop_assert!(e.message.starts_with(&name), "error without the file name: {}", e.message);
        }
    }

    /// (c) Token classification files: CoNLL, JSON lines.
    #[test]
    fn token_examples_never_panic(input in input(), ext in other_extension()) {
        let (seed, bytes) = realise(&input, &seeds("token"));
        let name = task_file_name(&seed, ext);
        let text = String::from_utf8_lossy(&bytes);
        match bounded("parse_token_examples", || parse_token_examples(&text, &name))? {
            Ok(examples) => for e in examples {
                prop_assert!(e.tags.as_ref().is_none_or(|t| t.len() == e.tokens.len()));
            },
            Err(e) => prop_assert!(e.message.starts_with(&name), "error without the file name: {}", e.message),
        }
    }

    /// (c) Extractive QA files: SQuAD JSON. Every accepted answer stands in its context.
    #[test]
    fn qa_examples_never_panic(input in input()) {
        let (seed, bytes) = realise(&input, &seeds("qa"));
        let text = String::from_utf8_lossy(&bytes);
        match bounded("parse_qa_examples", || parse_qa_examples(&text, &seed))? {
            Ok(examples) => for e in examples {
                for a in &e.answers {
                    let found: String = e.context.chars().skip(a.start).take(a.text.chars().count()).collect();
                    prop_assert_eq!(&found, &a.text, "question {}", e.id);
                }
            },
            Err(e) => prop_assert!(e.message.starts_with(&seed), "error without the file name: {}", e.message),
        }
    }
}

proptest! {
    #![proptest_config(config(5_000, regressions!("tokenizer")))]

    /// (d) The tokenizer files: tokenizer.json, else vocab.txt, with tokenizer_config.json. One of them
    /// is mutated; a tokenizer that loads must encode a text.
    #[test]
    fn tokenizer_files_never_panic(input in input(), from_json in any::<bool>(), with_config in any::<bool>()) {
        let seeds = seeds("tokenizer");
        let (mut mutated, bytes) = realise(&input, &seeds);
        if mutated == "random" {
            mutated = if from_json { "tokenizer.json" } else { "vocab.txt" }.to_string();
        }
        let from_json = from_json || mutated == "tokenizer.json";
        let with_config = with_config || mutated == "tokenizer_config.json";
        let file = |name: &str| -> Vec<u8> {
            if mutated == name { bytes.clone() } else { seeds.iter().find(|(n, _)| n == name).unwrap().1.clone() }
        };
        let json = from_json.then(|| file("tokenizer.json"));
        let vocab = file("vocab.txt");
        let config = with_config.then(|| file("tokenizer_config.json"));
        let tokenizer = bounded("BertTokenizer::from_files", || {
            BertTokenizer::from_files(json.as_deref(), Some(&vocab), config.as_deref())
        })?;
        if let Ok(t) = tokenizer {
            let _ = bounded("encode", || t.encode("Hello world, [MASK] déjà vu!", Some("a pair")))?;
        }
    }
}

/// The seeds themselves are valid: mutations start from files the readers accept.
#[test]
fn seeds_are_accepted() {
    for (name, bytes) in seeds("safetensors") {
        assert!(!load(&bytes, &name).unwrap().is_empty(), "{name}");
        load_ints(&bytes, &name).unwrap();
    }
    for (name, bytes) in seeds("config") {
        BertConfig::from_json(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
    for (name, bytes) in seeds("text") {
        assert!(!parse_text_examples(&text(&bytes), &name).unwrap().is_empty(), "{name}");
    }
    for (name, bytes) in seeds("token") {
        assert!(
            !parse_token_examples(&text(&bytes), &name).unwrap().is_empty(),
            "{name}"
        );
    }
    for (name, bytes) in seeds("qa") {
        assert!(!parse_qa_examples(&text(&bytes), &name).unwrap().is_empty(), "{name}");
    }
    let tk = seeds("tokenizer");
    let file = |name: &str| tk.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice());
    for json in [file("tokenizer.json"), None] {
        let t = BertTokenizer::from_files(json, file("vocab.txt"), file("tokenizer_config.json")).unwrap();
        assert!(t.encode("hello world", None).is_ok());
    }
}

/// Writes the safetensors seeds: small files from this crate's writer (F32 and F16, with metadata, a
/// scalar and an empty tensor) and from the reference writer (F64, BF16, F16, I64, I32).
/// Run with `cargo test --release --test fuzz -- --ignored write_safetensors_seeds`.
#[test]
#[ignore]
fn write_safetensors_seeds() {
    use bert_wgpu::io::{save, HostTensor, SaveDtype};
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;

    let t = |shape: &[usize], f: fn(usize) -> f32| HostTensor {
        shape: shape.to_vec(),
        data: (0..shape.iter().product()).map(f).collect(),
    };
    let tensors = [
        ("bert.pooler.dense.weight", t(&[3, 4], |i| i as f32 * 0.37 - 1.5)),
        ("bert.pooler.dense.bias", t(&[3], |i| 1e-3 * i as f32)),
        ("scalar", t(&[], |_| 65504.0)),
        ("empty", t(&[0, 5], |_| 0.0)),
    ];
    let refs: Vec<(&str, &HostTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let meta = std::collections::HashMap::from([("step".to_string(), "7".to_string())]);
    let dir = corpus_dir("safetensors");
    std::fs::write(
        dir.join("ours-f32.safetensors"),
        save(&refs, SaveDtype::F32, Some(meta)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("ours-f16.safetensors"),
        save(&refs[..2], SaveDtype::F16, None).unwrap(),
    )
    .unwrap();

    let bytes = |v: &[f64], dtype: Dtype| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| match dtype {
                Dtype::F64 => x.to_le_bytes().to_vec(),
                Dtype::BF16 => half::bf16::from_f64(x).to_le_bytes().to_vec(),
                Dtype::F16 => half::f16::from_f64(x).to_le_bytes().to_vec(),
                Dtype::I64 => (x as i64).to_le_bytes().to_vec(),
                _ => (x as i32).to_le_bytes().to_vec(),
            })
            .collect()
    };
    let data = [
        (
            "f64",
            Dtype::F64,
            vec![2, 2],
            bytes(&[1.5, -2.25, 0.0, 384.0], Dtype::F64),
        ),
        ("bf16", Dtype::BF16, vec![3], bytes(&[1.0, -0.5, 3.0e38], Dtype::BF16)),
        ("f16", Dtype::F16, vec![2, 1], bytes(&[65504.0, -1e-7], Dtype::F16)),
        (
            "input_ids",
            Dtype::I64,
            vec![2, 2],
            bytes(&[101.0, 7592.0, 102.0, -1.0], Dtype::I64),
        ),
        ("labels", Dtype::I32, vec![2], bytes(&[3.0, -100.0], Dtype::I32)),
        ("nothing", Dtype::F32, vec![4, 0], Vec::new()),
    ];
    let views: Vec<(&str, TensorView)> = data
        .iter()
        .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    std::fs::write(
        dir.join("reference-mixed.safetensors"),
        safetensors::serialize(views, Some(meta)).unwrap(),
    )
    .unwrap();
}

/// The tiny model's tokenizer.json seed, with `edit` applied to its JSON.
fn tokenizer_json_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let bytes = std::fs::read(corpus_dir("tokenizer").join("tokenizer.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    edit(&mut json);
    serde_json::to_vec(&json).unwrap()
}

fn tokenizer_error(json: &[u8]) -> String {
    let vocab = std::fs::read(corpus_dir("tokenizer").join("vocab.txt")).unwrap();
    match BertTokenizer::from_files(Some(json), Some(&vocab), None) {
        Ok(t) => panic!(
            "accepted; encodes to {:?}",
            t.encode("hello", Some("world")).map(|e| e.ids)
        ),
        Err(e) => e.message,
    }
}

/// Found by `tokenizer_files_never_panic` (one flipped bit: `[SEP]` became `ZSEP]` in the single-text
/// template): `tokenizers` loads a template naming an undefined special token and panics when encoding.
#[test]
fn regression_template_with_an_undefined_special_token() {
    let json = tokenizer_json_with(|j| j["post_processor"]["single"][2]["SpecialToken"]["id"] = "ZSEP]".into());
    assert_eq!(
        tokenizer_error(&json),
        "tokenizer.json: post_processor: the single template uses special token \"ZSEP]\", which special_tokens \
         does not define"
    );
    // The same family: a single-text template that reads a second text, a pair template without it, a
    // special token with more ids than tokens.
    let json = tokenizer_json_with(|j| j["post_processor"]["single"][1]["Sequence"]["id"] = "B".into());
    assert_eq!(
        tokenizer_error(&json),
        "tokenizer.json: post_processor: the single template uses $B"
    );
    let json = tokenizer_json_with(|j| j["post_processor"]["pair"][3]["Sequence"]["id"] = "A".into());
    assert_eq!(
        tokenizer_error(&json),
        "tokenizer.json: post_processor: the pair template has no $B"
    );
    let json =
        tokenizer_json_with(|j| j["post_processor"]["special_tokens"]["[SEP]"]["ids"] = serde_json::json!([3, 4]));
    assert!(tokenizer_error(&json).contains("special token \"[SEP]\" has Some(2) ids but Some(1) tokens"));
}

/// Found by `tokenizer_files_never_panic` (one flipped bit: a space became `!` inside `"decoder"`):
/// `tokenizers` panics ("Helper") on a syntax error inside the decoder when it parses the bytes itself.
#[test]
fn regression_syntax_error_inside_the_decoder() {
    let text = std::fs::read_to_string(corpus_dir("tokenizer").join("tokenizer.json")).unwrap();
    assert!(text.contains("\"decoder\": {\n "));
    let broken = text.replacen("\"decoder\": {\n ", "\"decoder\": {\n!", 1);
    let msg = tokenizer_error(broken.as_bytes());
    assert!(
        msg.starts_with("tokenizer.json: key must be a string at line 138"),
        "{msg}"
    );
    // A Precompiled normalizer that cannot be built panics in `tokenizers` the same way.
    let json = tokenizer_json_with(|j| j["normalizer"] = serde_json::json!({"type": "Precompiled"}));
    assert!(tokenizer_error(&json).starts_with("tokenizer.json: normalizer: Precompiled: "));
    let json = tokenizer_json_with(
        |j| j["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": [{"type": "Precompiled", "precompiled_charsmap": "AAAA"}]}),
    );
    assert!(tokenizer_error(&json).starts_with("tokenizer.json: normalizer: Precompiled: "));
}

/// Found by reasoning over `qa_examples_never_panic`'s number mutations: an `answer_start` of u64::MAX
/// overflowed `answer_start + answer length` (a panic where overflow is checked, as in debug builds).
#[test]
fn regression_answer_start_at_the_end_of_u64() {
    let squad = r#"{"data": [{"paragraphs": [{"context": "queen lived in france .", "qas": [
        {"id": "q0", "question": "where ?", "answers": [{"text": "france", "answer_start": 18446744073709551615}]}
    ]}]}]}"#;
    let msg = parse_qa_examples(squad, "qa.json").unwrap_err().message;
    assert!(msg.starts_with("qa.json: ") && msg.contains("q0"), "{msg}");
}

/// Found by `config_parser_never_panics` (a digit repeated: `1e-12` became `1e-112`): the saved config
/// loads back one unit in the last place away, which the round-trip property allows.
#[test]
fn regression_config_float_round_trip() {
    let text = String::from_utf8(seeds("config").remove(0).1).unwrap();
    assert!(text.contains("\"layer_norm_eps\": 1e-12,"));
    let config = BertConfig::from_json(text.replacen("1e-12", "1e-112", 1).as_bytes()).unwrap();
    let again = BertConfig::from_json(config.to_json().as_bytes()).unwrap();
    let (a, b) = (
        serde_json::to_value(&config).unwrap(),
        serde_json::to_value(&again).unwrap(),
    );
    assert!(same_up_to_float_rounding(&a, &b));
    assert!((again.layer_norm_eps / 1e-112 - 1.0).abs() < 1e-15);
}
