//! Tokenizer tests: a tiny vocab.txt written here, and the real bert-base-uncased vocabulary of
//! all-MiniLM-L6-v2 against transformers' output in tests/fixtures/tokenizer/expected.json (made by
//! make_expected.py beside it).

mod common;

use bert_wgpu::tokenizer::{BertTokenizer, Encoding};
use serde_json::Value;

/// Line number = id.
const VOCAB: &str = concat!(
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", // 0..=4
    "the\ncafe\nis\nopen\nhello\nworld\n",  // 5..=10
    ".\n,\n!\n'\nt\ndon\n",                 // 11..=16
    "un\n##aff\n##able\na\nb\nc\nd\n",      // 17..=23
);

fn tiny(config: Option<&str>) -> BertTokenizer {
    BertTokenizer::from_files(None, Some(VOCAB.as_bytes()), config.map(str::as_bytes)).unwrap()
}

fn ids(tk: &BertTokenizer, text: &str) -> Vec<u32> {
    tk.encode(text, None).unwrap().ids
}

fn err(r: bert_wgpu::Result<BertTokenizer>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.message,
    }
}

#[test]
fn lower_cases_and_strips_accents() {
    let tk = tiny(None);
    assert_eq!(ids(&tk, "Hello WORLD"), [2, 9, 10, 3]);
    assert_eq!(ids(&tk, "Café"), [2, 6, 3]);
    assert_eq!(tk.cls_id(), 2);
    assert_eq!(tk.sep_id(), 3);
    assert_eq!(tk.pad_id(), 0);
    assert_eq!(tk.mask_id(), Some(4));
    assert_eq!(tk.vocab_size(), 24);
    assert_eq!(tk.id_to_token(18).as_deref(), Some("##aff"));
    assert_eq!(tk.token_to_id("world"), Some(10));
}

#[test]
fn tokenizer_config_sets_case_and_accents() {
    // Cased: "Hello" is not in the vocabulary; accents follow lower-casing unless strip_accents says.
    let cased = tiny(Some(r#"{"do_lower_case": false}"#));
    assert_eq!(ids(&cased, "Hello hello"), [2, 1, 9, 3]);
    assert_eq!(ids(&cased, "café"), [2, 1, 3]);
    let stripped = tiny(Some(r#"{"do_lower_case": false, "strip_accents": true}"#));
    assert_eq!(ids(&stripped, "café"), [2, 6, 3]);
    let accented = tiny(Some(r#"{"do_lower_case": true, "strip_accents": false}"#));
    assert_eq!(ids(&accented, "Café"), [2, 1, 3]);
    let bad = BertTokenizer::from_files(None, Some(VOCAB.as_bytes()), Some(br#"{"do_lower_case": "yes"}"#));
    assert!(err(bad).contains("do_lower_case"));
}

#[test]
fn word_pieces_and_unknown_words() {
    let tk = tiny(None);
    assert_eq!(ids(&tk, "unaffable"), [2, 17, 18, 19, 3]);
    let enc = tk.encode("hello zebra unaffable", None).unwrap();
    assert_eq!(enc.ids, [2, 9, 1, 17, 18, 19, 3]);
    assert_eq!(enc.word_ids, [None, Some(0), Some(1), Some(2), Some(2), Some(2), None]);
    assert_eq!(
        enc.offsets,
        [(0, 0), (0, 5), (6, 11), (12, 14), (14, 17), (17, 21), (0, 0)]
    );
    // A word longer than 100 characters is one [UNK].
    assert_eq!(ids(&tk, &"a".repeat(101)), [2, 1, 3]);
    // [MASK] in the text is one token, never split or lower-cased.
    assert_eq!(ids(&tk, "the [MASK] is open"), [2, 5, 4, 7, 8, 3]);
}

#[test]
fn pairs_have_type_ids() {
    let tk = tiny(None);
    let enc = tk.encode("hello world", Some("the cafe is open")).unwrap();
    assert_eq!(enc.ids, [2, 9, 10, 3, 5, 6, 7, 8, 3]);
    assert_eq!(enc.type_ids, [0, 0, 0, 0, 1, 1, 1, 1, 1]);
    assert_eq!(
        enc.special,
        [true, false, false, true, false, false, false, false, true]
    );
    // Offsets and word ids count within each text.
    assert_eq!(enc.offsets[4], (0, 3));
    assert_eq!(enc.word_ids[4], Some(0));
}

#[test]
fn truncation_keeps_sep() {
    let tk = tiny(None);
    let enc = tk.encode("the cafe is open . hello world", None).unwrap();
    let (short, cut) = tk.truncate(enc.clone(), 5);
    assert!(cut);
    assert_eq!(short.ids, [2, 5, 6, 7, 3]);
    assert_eq!(short.special, [true, false, false, false, true]);
    assert_eq!(tk.truncate(enc.clone(), 9), (enc.clone(), false));
    // Longest first: "a b c d" / "b" to 6 cuts only the first text.
    let pair = tk.encode("a b c d", Some("b")).unwrap();
    let (short, cut) = tk.truncate(pair, 6);
    assert!(cut);
    assert_eq!(short.ids, [2, 20, 21, 3, 21, 3]);
    assert_eq!(short.type_ids, [0, 0, 0, 0, 1, 1]);
    // The special tokens stay even below their own count.
    let (short, _) = tk.truncate(enc, 1);
    assert_eq!(short.ids, [2, 3]);
}

#[test]
fn decode_joins_pieces_and_cleans_up() {
    let tk = tiny(None);
    let enc = tk.encode("Hello, world! unaffable. don't", None).unwrap();
    assert_eq!(
        tk.decode(&enc.ids, false),
        "[CLS] hello, world! unaffable. don ' t [SEP]"
    );
    assert_eq!(tk.decode(&enc.ids, true), "hello, world! unaffable. don ' t");
    let clean = tiny(Some(r#"{"clean_up_tokenization_spaces": true}"#));
    assert_eq!(clean.decode(&enc.ids, true), "hello, world! unaffable. don't");
    // Ids outside the vocabulary are dropped.
    assert_eq!(tk.decode(&[9, 1000, 10], true), "hello world");
}

#[test]
fn errors_name_what_is_missing() {
    let none = BertTokenizer::from_files(None, None, None);
    assert_eq!(err(none), "model directory has no tokenizer.json or vocab.txt");
    let no_cls = VOCAB.replace("[CLS]\n", "[XLS]\n");
    let msg = err(BertTokenizer::from_files(None, Some(no_cls.as_bytes()), None));
    assert!(msg.contains("[CLS]") && msg.contains("vocab.txt"), "{msg}");
    let no_mask = VOCAB.replace("[MASK]\n", "[XASK]\n");
    let tk = BertTokenizer::from_files(None, Some(no_mask.as_bytes()), None).unwrap();
    assert_eq!(tk.mask_id(), None);
    let msg = err(BertTokenizer::from_files(Some(b"{not json"), None, None));
    assert!(msg.starts_with("tokenizer.json"), "{msg}");

    let tk = tiny(None);
    for (text, pair) in [("", None), ("  \t\n", None), ("\u{0}", None), ("hello", Some(" "))] {
        assert_eq!(
            tk.encode(text, pair).unwrap_err().message,
            "empty text",
            "{text:?} {pair:?}"
        );
    }
}

#[test]
fn tokenizer_json_truncation_and_padding_are_ignored() {
    // A tokenizer.json as transformers saves it, carrying truncation and padding settings.
    let mut json: Value = serde_json::from_str(&tiny(None).inner().to_string(false).unwrap()).unwrap();
    json["truncation"] =
        serde_json::json!({"max_length": 3, "strategy": "LongestFirst", "stride": 0, "direction": "Right"});
    json["padding"] = serde_json::json!({"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null,
        "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
    let bytes = serde_json::to_vec(&json).unwrap();
    let tk = BertTokenizer::from_files(Some(&bytes), None, None).unwrap();
    assert_eq!(ids(&tk, "the cafe is open"), [2, 5, 6, 7, 8, 3]);
    // tokenizer.json wins over vocab.txt.
    let other = BertTokenizer::from_files(Some(&bytes), Some(b"x\n"), None).unwrap();
    assert_eq!(ids(&other, "Hello"), [2, 9, 3]);
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn expect_encoding(c: &Value) -> Encoding {
    Encoding {
        ids: u32s(&c["ids"]),
        type_ids: u32s(&c["type_ids"]),
        offsets: c["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o[0].as_u64().unwrap() as usize, o[1].as_u64().unwrap() as usize))
            .collect(),
        word_ids: c["word_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().map(|w| w as u32))
            .collect(),
        special: c["special"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_bool().unwrap())
            .collect(),
    }
}

#[test]
fn bert_base_uncased_vocabulary_matches_transformers() {
    let Some(dir) = common::minilm_dir(&["vocab.txt", "tokenizer.json"]) else {
        return;
    };
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let expected: Value = serde_json::from_str(include_str!("fixtures/tokenizer/expected.json")).unwrap();
    let (json, vocab, config) = (read("tokenizer.json"), read("vocab.txt"), read("tokenizer_config.json"));
    let cleanup = br#"{"do_lower_case": true, "clean_up_tokenization_spaces": true}"#;
    for (how, tk, clean) in [
        (
            "tokenizer.json",
            BertTokenizer::from_files(Some(&json), None, Some(&config)).unwrap(),
            None,
        ),
        (
            "vocab.txt",
            BertTokenizer::from_files(None, Some(&vocab), Some(&config)).unwrap(),
            None,
        ),
        (
            "tokenizer.json, no config",
            BertTokenizer::from_files(Some(&json), None, None).unwrap(),
            None,
        ),
        (
            "vocab.txt + cleanup",
            BertTokenizer::from_files(None, Some(&vocab), Some(cleanup)).unwrap(),
            Some(()),
        ),
    ] {
        assert_eq!(
            tk.vocab_size() as u64,
            expected["vocab_size"].as_u64().unwrap(),
            "{how}"
        );
        assert_eq!(tk.cls_id() as u64, expected["cls_id"].as_u64().unwrap(), "{how}");
        assert_eq!(tk.sep_id() as u64, expected["sep_id"].as_u64().unwrap(), "{how}");
        assert_eq!(tk.pad_id() as u64, expected["pad_id"].as_u64().unwrap(), "{how}");
        assert_eq!(tk.mask_id().map(u64::from), expected["mask_id"].as_u64(), "{how}");
        for c in expected["cases"].as_array().unwrap() {
            let (text, pair) = (c["text"].as_str().unwrap(), c["pair"].as_str());
            let enc = tk.encode(text, pair).unwrap();
            assert_eq!(enc, expect_encoding(c), "{how}: {text:?} / {pair:?}");
            if clean.is_some() {
                assert_eq!(
                    tk.decode(&enc.ids, true),
                    c["decode_cleanup"].as_str().unwrap(),
                    "{how}: {text:?}"
                );
            } else {
                assert_eq!(
                    tk.decode(&enc.ids, false),
                    c["decode"].as_str().unwrap(),
                    "{how}: {text:?}"
                );
                assert_eq!(
                    tk.decode(&enc.ids, true),
                    c["decode_skip"].as_str().unwrap(),
                    "{how}: {text:?}"
                );
            }
        }
        for t in expected["truncations"].as_array().unwrap() {
            let (text, pair) = (t["text"].as_str().unwrap(), t["pair"].as_str());
            let max_len = t["max_len"].as_u64().unwrap() as usize;
            let enc = tk.encode(text, pair).unwrap();
            let (short, _) = tk.truncate(enc, max_len);
            assert_eq!(short.ids, u32s(&t["ids"]), "{how}: {text:?} / {pair:?} to {max_len}");
        }
    }
}
