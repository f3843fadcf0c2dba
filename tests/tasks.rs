//! Host-side fine-tuning: dataset readers, bad input, features against the reference batches of
//! tests/fixtures/finetune (made by scripts/make_finetune_fixtures.py with transformers), metrics and
//! pipeline post-processing on hand-worked cases. No GPU.

use std::path::{Path, PathBuf};

use bert_wgpu::io::{load, load_ints};
use bert_wgpu::model::weights::HeadKind;
use bert_wgpu::tasks::features::FeatureSettings;
use bert_wgpu::tasks::features::*;
use bert_wgpu::tasks::files::*;
use bert_wgpu::tasks::metrics::*;
use bert_wgpu::tasks::pipeline::LabelScore;
use bert_wgpu::tasks::sequence::*;
use bert_wgpu::tasks::span::*;
use bert_wgpu::tasks::token::*;
use bert_wgpu::tasks::Examples;
use bert_wgpu::tasks::{char_offsets, is_regression, LabelMap, Task, IGNORE};
use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::train::task_data::TaskData;
use bert_wgpu::BertConfig;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/finetune")
        .join(name)
}

fn tokenizer(model: &str) -> BertTokenizer {
    let read = |f: &str| std::fs::read(fixture(model).join(f)).ok();
    BertTokenizer::from_files(
        read("tokenizer.json").as_deref(),
        read("vocab.txt").as_deref(),
        read("tokenizer_config.json").as_deref(),
    )
    .unwrap()
}

fn config(model: &str) -> BertConfig {
    BertConfig::from_json(&std::fs::read(fixture(model).join("config.json")).unwrap()).unwrap()
}

fn labels(model: &str) -> LabelMap {
    LabelMap::from_config(&config(model)).unwrap()
}

/// The int64 tensor `name` of `<task>-reference.safetensors`: (shape, values).
fn ints(task: &str, name: &str) -> (Vec<usize>, Vec<i64>) {
    let bytes = std::fs::read(fixture(&format!("{task}-reference.safetensors"))).unwrap();
    let t = load_ints(&bytes, task)
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1;
    (t.shape, t.data)
}

/// Row `r` of a (B, T) tensor without its trailing padding, as u32.
fn row(t: &(Vec<usize>, Vec<i64>), r: usize, len: usize) -> Vec<u32> {
    let w = t.0[1];
    t.1[r * w..r * w + len].iter().map(|&v| v as u32).collect()
}

fn err<T: std::fmt::Debug>(r: bert_wgpu::Result<T>) -> String {
    r.unwrap_err().message
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn task_kinds_and_label_maps() {
    for name in Task::NAMES {
        assert_eq!(Task::parse(name).unwrap().name(), name);
    }
    assert!(err(Task::parse("ner")).contains("seq-cls, pair-cls, token-cls, qa"));
    assert_eq!(labels("seq-cls").names, ["entailment", "neutral", "contradiction"]);
    assert_eq!(labels("token-cls").names, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]);
    assert_eq!(labels("seq-reg").names, ["score"]);
    assert_eq!(LabelMap::from_config(&config("qa")), None);
    assert!(is_regression(&config("seq-reg")) && !is_regression(&config("seq-cls")));
    let mut c = config("qa");
    LabelMap {
        names: strings(&["LABEL_0", "LABEL_1"]),
    }
    .write_to_config(&mut c);
    assert_eq!(
        LabelMap::from_config(&c),
        None,
        "transformers' default names are no label map"
    );
    let map = LabelMap::from_values(["pos", "neg", "pos"]);
    assert_eq!(map.names, ["neg", "pos"]);
    assert_eq!(LabelMap::from_values(["10", "2", "0"]).names, ["0", "2", "10"]);
    map.write_to_config(&mut c);
    assert_eq!(c.extra["id2label"]["1"], "pos");
    assert_eq!(c.extra["label2id"]["neg"], 0);
    let c = BertConfig::from_json(c.to_json().as_bytes()).unwrap();
    assert_eq!(LabelMap::from_config(&c), Some(map.clone()));
    assert_eq!(LabelMap::for_training(&config("seq-cls"), ["x"]), labels("seq-cls"));
    assert_eq!(map.id("pos", "f.tsv", 3), Ok(1));
    let e = err(map.id("maybe", "f.tsv", 3));
    assert!(
        e.contains("f.tsv:3") && e.contains("\"maybe\"") && e.contains("neg, pos"),
        "{e}"
    );
}

#[test]
fn datasets_parse_with_their_counts() {
    let n = |f: &str| read_text_examples(&fixture(f)).unwrap().len();
    assert_eq!((n("pair.tsv"), n("pair-train.tsv"), n("pair-eval.tsv")), (180, 120, 60));
    let train = read_text_examples(&fixture("pair-train.tsv")).unwrap();
    assert_eq!(train[0].line, 2);
    assert_eq!(train[0].text, "the girl walked home .");
    assert_eq!(train[0].text_pair.as_deref(), Some("the girl walked home"));
    assert_eq!(train[0].label.as_deref(), Some("entailment"));
    let n = |f: &str| read_token_examples(&fixture(f)).unwrap().len();
    assert_eq!(
        (n("ner.jsonl"), n("ner-train.jsonl"), n("ner-eval.jsonl")),
        (100, 80, 20)
    );
    for split in ["train", "eval"] {
        let jsonl = read_token_examples(&fixture(&format!("ner-{split}.jsonl"))).unwrap();
        let conll = read_token_examples(&fixture(&format!("ner-{split}.conll"))).unwrap();
        let strip = |v: Vec<TokenExample>| v.into_iter().map(|e| (e.tokens, e.tags)).collect::<Vec<_>>();
        assert_eq!(strip(jsonl), strip(conll), "{split}: CoNLL and JSON lines differ");
    }
    let conll = read_token_examples(&fixture("ner-eval.conll")).unwrap();
    assert_eq!(conll[0].line, 1);
    assert_eq!(conll[1].line, conll[0].tokens.len() + 2);
    let eval = read_token_examples(&fixture("ner-eval.jsonl")).unwrap();
    let gold: Vec<Vec<String>> = eval.iter().map(|e| e.tags.clone().unwrap()).collect();
    let count: usize = gold.iter().map(|t| entities(t).len()).sum();
    assert_eq!(count, 43);
    let n = |f: &str| read_qa_examples(&fixture(f)).unwrap().len();
    assert_eq!((n("qa.json"), n("qa-train.json"), n("qa-eval.json")), (240, 200, 40));
    let qa = read_qa_examples(&fixture("qa-train.json")).unwrap();
    assert_eq!(qa[0].id, "q000-0");
    assert_eq!(
        qa[0].answers,
        [Answer {
            text: "france".into(),
            start: 38
        }]
    );
}

#[test]
fn sentiment_tsv_has_label_first() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sentiment/train.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    let ex = parse_text_examples(&text, "train.tsv").unwrap();
    assert!(ex.len() > 100 && ex.iter().all(|e| e.text_pair.is_none()));
    assert_eq!(ex[0].label.as_deref(), Some("1"));
}

#[test]
fn csv_and_json_lines() {
    let csv =
        "sentence1,sentence2,label,idx\r\n\"a, b\",\"say \"\"hi\"\"\",yes,0\n\"two\nlines\",x,no,1\nlast,y,yes,2\n";
    let ex = parse_text_examples(csv, "d.csv").unwrap();
    assert_eq!(ex.len(), 3);
    assert_eq!(
        (ex[0].line, ex[0].text.as_str(), ex[0].text_pair.as_deref()),
        (2, "a, b", Some("say \"hi\""))
    );
    assert_eq!((ex[1].line, ex[1].text.as_str()), (3, "two\nlines"));
    assert_eq!((ex[2].line, ex[2].label.as_deref()), (5, Some("yes")));
    assert!(err(parse_text_examples("text,label\n\"open,1\n", "o.csv")).contains("o.csv:2"));
    let jsonl = "{\"text\": \"good\", \"label\": 1}\n\n{\"text\": \"bad\", \"label\": 0.5}\n{\"text\": \"x\"}\n";
    let ex = parse_text_examples(jsonl, "d.jsonl").unwrap();
    assert_eq!(ex.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 3, 4]);
    assert_eq!(ex[0].label.as_deref(), Some("1"));
    assert_eq!(ex[1].label.as_deref(), Some("0.5"));
    assert_eq!(ex[2].label, None);
    assert!(err(parse_text_examples("{\"text\": 3}\n", "n.jsonl")).contains("n.jsonl:1"));
    assert!(err(parse_text_examples("a\tb\n", "x.txt")).contains("x.txt"));
    let e = err(parse_text_examples("label\ttext\n1\tok\n\n0\tno\n", "blank.tsv"));
    assert!(e.contains("blank.tsv:3") && e.contains("empty row"), "{e}");
    assert_eq!(
        parse_text_examples("label\ttext\n1\tok\n\n\n", "end.tsv")
            .unwrap()
            .len(),
        1
    );
    let ner = "{\"tokens\": [\"a\", \"b\"], \"ner_tags\": [\"O\", \"B-X\"]}\n";
    assert_eq!(
        parse_token_examples(ner, "n.jsonl").unwrap()[0].tags,
        Some(strings(&["O", "B-X"]))
    );
    let conll = "-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter B-PER\n";
    let ex = parse_token_examples(conll, "c.conll").unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].line, ex[0].tags.clone().unwrap()), (3, strings(&["B-ORG", "O"])));
    assert_eq!(parse_token_examples("a\nb\n\nc\n", "p.conll").unwrap()[1].tags, None);
    assert!(err(parse_token_examples("a O\nb\n", "m.conll")).contains("m.conll:2"));
}

#[test]
fn bad_files_name_file_and_line() {
    let text = |f: &str| err(read_text_examples(&fixture(f)));
    let token = |f: &str| err(read_token_examples(&fixture(f)));
    let squad = |f: &str| err(read_qa_examples(&fixture(f)));
    // A label or a tag that the model's config does not have: refused when the features are made.
    let file = fixture("bad/pair-unknown-label.tsv");
    let (ex, name) = (read_text_examples(&file).unwrap(), file.display().to_string());
    let (tok, map) = (tokenizer("seq-cls"), labels("seq-cls"));
    let unknown_label = err(text_features(&tok, &ex, Some(&map), 64, &name));
    let ex = read_token_examples(&fixture("bad/ner-unknown-tag.jsonl")).unwrap();
    let (tok, map) = (tokenizer("token-cls"), labels("token-cls"));
    let unknown_tag = err(token_features(&tok, &ex, Some(&map), 64, "ner-unknown-tag.jsonl"));
    for (e, needles) in [
        (text("bad/pair-ragged.tsv"), &["pair-ragged.tsv:4", "2 fields"][..]),
        (
            text("bad/pair-empty-field.tsv"),
            &["pair-empty-field.tsv:3", "empty text"],
        ),
        (unknown_label, &["pair-unknown-label.tsv:5", "maybe", "entailment"]),
        (
            token("bad/ner-count-mismatch.jsonl"),
            &["ner-count-mismatch.jsonl:3", "8 tokens but 7 tags"],
        ),
        (unknown_tag, &["ner-unknown-tag.jsonl:2", "B-ORG"]),
        (
            squad("bad/qa-answer-offset.json"),
            &["qa-answer-offset.json", "q001-2", "occurs at character"],
        ),
        (
            squad("bad/qa-answer-missing.json"),
            &["qa-answer-missing.json", "q001-0", "does not occur"],
        ),
        (text("missing.tsv"), &["missing.tsv"]),
    ] {
        for n in needles {
            assert!(e.contains(n), "{e:?} does not mention {n:?}");
        }
    }
}

/// A dataset file's contents as training or evaluation data of `task` for the model fixture `model`: the
/// reader, then the features with the label map `finetune` builds (regression without one).
fn task_data(task: &str, model: &str, contents: &str, file: &str) -> bert_wgpu::Result<TaskData> {
    let kind = Task::parse(task)?;
    let examples = Examples::parse(kind, contents, file)?;
    let labels = match kind.head {
        HeadKind::Span => None,
        _ if is_regression(&config(model)) => None,
        _ => Some(LabelMap::for_training(&config(model), examples.label_values())),
    };
    let settings = FeatureSettings {
        max_len: 64,
        doc_stride: 16,
        max_answer_len: 8,
    };
    TaskData::new(kind, file, examples, &tokenizer(model), labels, settings, true)
}

/// Asserts an error that names every needle and is one line.
fn assert_names<T>(r: bert_wgpu::Result<T>, needles: &[&str]) {
    let Err(bert_wgpu::Error { message: e, .. }) = r else {
        panic!("accepted; expected an error naming {needles:?}")
    };
    assert!(!e.contains('\n'), "not one line: {e}");
    for n in needles {
        assert!(e.contains(n), "{e:?} does not mention {n:?}");
    }
}

/// The models' fixtures hold no label map for a fresh label set; `qa/` has none.
const FRESH: &str = "qa";

#[test]
fn a_file_without_a_column_the_task_needs_is_named_at_its_line() {
    // Texts without labels, in each format; the header is line 1 of a table.
    for (contents, file, at) in [
        ("text\ttext_pair\nthe king\tthe queen\n", "nolabel.tsv", "nolabel.tsv:1"),
        ("text,idx\nthe king,0\nthe queen,1\n", "nolabel.csv", "nolabel.csv:1"),
        (
            "{\"text\": \"a\", \"label\": \"x\"}\n\n{\"text\": \"b\"}\n",
            "some.jsonl",
            "some.jsonl:3",
        ),
        ("{\"text\": \"a\", \"label\": null}\n", "null.jsonl", "null.jsonl:1"),
    ] {
        for task in ["seq-cls", "pair-cls"] {
            assert_names(task_data(task, FRESH, contents, file), &[at, "label"]);
        }
    }
    // Sentence pairs without their second text.
    for (contents, file, at) in [
        ("text\tlabel\nthe king\tx\nthe queen\ty\n", "single.tsv", "single.tsv:1"),
        ("sentence1,label\nthe king,x\n", "single.csv", "single.csv:1"),
        (
            "{\"text\": \"a\", \"text_pair\": \"b\", \"label\": \"x\"}\n{\"text\": \"c\", \"label\": \"y\"}\n",
            "half.jsonl",
            "half.jsonl:2",
        ),
    ] {
        assert_names(
            task_data("pair-cls", FRESH, contents, file),
            &[at, "text_pair", "pair-cls"],
        );
    }
    // A single-text task takes pairs, but not a file that mixes them.
    let mixed = "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"c\", \"text_pair\": \"d\", \"label\": \"y\"}\n";
    assert_names(
        task_data("seq-cls", FRESH, mixed, "mixed.jsonl"),
        &["mixed.jsonl:1", "line 2"],
    );
    // Sentences without tags.
    for (contents, file, at) in [
        ("the\nking\n\nparis\n", "untagged.conll", "untagged.conll:1"),
        ("-DOCSTART-\n\nthe\n", "doc.conll", "doc.conll:3"),
        (
            "{\"tokens\": [\"the\", \"king\"]}\n",
            "untagged.jsonl",
            "untagged.jsonl:1",
        ),
    ] {
        assert_names(task_data("token-cls", "token-cls", contents, file), &[at, "tag"]);
    }
    // Questions without answers, or answers in another shape than SQuAD's list.
    let squad = |qas: &str| {
        format!("{{\"data\": [{{\"paragraphs\": [{{\"context\": \"the king ran .\", \"qas\": {qas}}}]}}]}}")
    };
    for (qas, needles) in [
        (
            r#"[{"id": "a", "question": "who ran ?"}]"#,
            &["noanswers.json", "no question has an answer"][..],
        ),
        (
            r#"[{"id": "a", "question": "who ran ?", "answers": []}]"#,
            &["noanswers.json", "answers"],
        ),
        (
            r#"[{"id": "a", "question": "who ran ?", "answers": {"text": ["the king"], "answer_start": [0]}}]"#,
            &["noanswers.json", "question a", "must be a list"],
        ),
    ] {
        assert_names(task_data("qa", "qa", &squad(qas), "noanswers.json"), needles);
    }
    // Prediction checks the texts alone.
    let rows = parse_text_examples(mixed, "mixed.jsonl").unwrap();
    assert_names(
        check_text_pairs(&rows, "mixed.jsonl", false),
        &["mixed.jsonl:1", "line 2"],
    );
    let rows = parse_text_examples("text\ttext_pair\na\tb\n", "pairs.tsv").unwrap();
    check_text_pairs(&rows, "pairs.tsv", false).unwrap();
    // Prediction reads files without labels.
    assert_eq!(parse_text_examples("text\nthe king\n", "p.tsv").unwrap()[0].label, None);
    assert_eq!(parse_token_examples("the\nking\n", "p.conll").unwrap()[0].tags, None);
}

#[test]
fn training_data_of_one_class_is_refused_and_evaluation_data_is_not() {
    let one = [
        (
            "seq-cls",
            FRESH,
            "text\tlabel\nthe king\tpos\nthe queen\tpos\n",
            "one.tsv",
            "\"pos\"",
        ),
        (
            "pair-cls",
            FRESH,
            "text,text_pair,label\na,b,1\nc,d,1\n",
            "one.csv",
            "\"1\"",
        ),
        // A label set from the model's config (three labels) does not help.
        (
            "pair-cls",
            "seq-cls",
            "{\"text\": \"a\", \"text_pair\": \"b\", \"label\": \"neutral\"}\n",
            "one.jsonl",
            "\"neutral\"",
        ),
        (
            "token-cls",
            "token-cls",
            "the O\nking O\n\nran O\n",
            "all-o.conll",
            "\"O\"",
        ),
        (
            "token-cls",
            FRESH,
            "{\"tokens\": [\"a\"], \"tags\": [\"B-X\"]}\n",
            "one.jsonl",
            "\"B-X\"",
        ),
        (
            "seq-cls",
            "seq-reg",
            "text\tlabel\na\t0.5\nb\t0.50\n",
            "flat.tsv",
            "0.5",
        ),
    ];
    for (task, model, contents, file, label) in one {
        let data = task_data(task, model, contents, file).unwrap();
        assert_names(data.check_learnable(), &[file, label]);
    }
    for (task, model, contents) in [
        ("seq-cls", FRESH, "text\tlabel\nthe king\tpos\nthe queen\tneg\n"),
        ("token-cls", "token-cls", "the O\nking B-PER\n"),
        ("seq-cls", "seq-reg", "text\tlabel\na\t0.5\nb\t1\n"),
    ] {
        task_data(task, model, contents, "two.tsv")
            .unwrap()
            .check_learnable()
            .unwrap();
    }
}

#[test]
fn conll_errors_name_the_bad_line() {
    for (contents, at, what) in [
        ("the O\nking O\nran\n", "c.conll:3", "no tag"),
        ("the\nking O\n", "c.conll:2", "a tag"),
        ("the DT O\nking O\n", "c.conll:2", "columns"),
        ("-DOCSTART- O\n\nthe O\n\nthe O\nking NN O\n", "c.conll:6", "columns"),
        // A sentence without tags in a file with tags: its first line is the bad one.
        ("the O\n\nking\nran\n", "c.conll:3", "without tags"),
        ("{\"tokens\": [\"the\"], \"tags\": [\"O\"]}\n", "c.conll:1", "JSON"),
        ("\n[\n  {\"tokens\": [\"the\"]}\n]\n", "c.conll:2", "JSON"),
    ] {
        assert_names(parse_token_examples(contents, "c.conll"), &[at, what]);
    }
    // An unknown tag: the line of its word.
    let tok = tokenizer("token-cls");
    for (contents, at) in [
        ("the O\nking B-PER\nran B-ORG\n", "t.conll:3"),
        ("paris B-LOC\n\nthe O\nking B-PER\n\nlondon B-XYZ\n", "t.conll:6"),
    ] {
        let ex = parse_token_examples(contents, "t.conll").unwrap();
        assert_names(
            token_features(&tok, &ex, Some(&labels("token-cls")), 64, "t.conll"),
            &[at, "B-"],
        );
    }
    let ex = parse_token_examples(
        "{\"tokens\": [\"the\", \"king\"], \"tags\": [\"O\", \"B-ORG\"]}\n",
        "t.jsonl",
    )
    .unwrap();
    let e = token_features(&tok, &ex, Some(&labels("token-cls")), 64, "t.jsonl");
    assert_names(e, &["t.jsonl:1", "B-ORG", "word 2", "king"]);
}

#[test]
fn a_file_of_another_format_says_what_was_expected_and_found() {
    let squad = std::fs::read_to_string(fixture("qa-eval.json")).unwrap();
    let one_line_squad = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&squad).unwrap()).unwrap();
    for (contents, at, found) in [
        ("text,label\nthe king,1\n", "x.jsonl:1", "\"text,label\""),
        ("text\tlabel\n", "x.jsonl:1", "text\\tlabel"),
        ("[{\"text\": \"a\", \"label\": 1}]\n", "x.jsonl:1", "JSON array"),
        ("[\n  {\"text\": \"a\", \"label\": 1}\n]\n", "x.jsonl:1", "JSON array"),
        ("\"the king\"\n", "x.jsonl:1", "JSON string"),
        (
            "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\"\n",
            "x.jsonl:2",
            "column",
        ),
        (squad.as_str(), "x.jsonl:1", "SQuAD"),
        (one_line_squad.as_str(), "x.jsonl:1", "SQuAD"),
    ] {
        assert_names(parse_text_examples(contents, "x.jsonl"), &[at, found, "JSON lines"]);
        let at = at.replace("x.jsonl", "x.json");
        assert_names(parse_token_examples(contents, "x.json"), &[&at, found, "JSON lines"]);
    }
    // QA lines or a text task's row where the keys are not those of the task.
    let e = parse_text_examples("{\"question\": \"who ?\", \"context\": \"the king\"}\n", "q.jsonl");
    assert_names(e, &["q.jsonl:1", "\"text\"", "context, question"]);
    let e = parse_token_examples("{\"text\": \"the king\", \"label\": \"x\"}\n", "t.jsonl");
    assert_names(e, &["t.jsonl:1", "\"tokens\"", "label, text"]);
    for (contents, needles) in [
        ("", &["q.json", "empty file", "SQuAD"][..]),
        ("  \n", &["q.json", "empty file"]),
        ("text\tlabel\nthe king\t1\n", &["q.json:1", "\"text\\tlabel\"", "SQuAD"]),
        (
            "{\"question\": \"who ?\", \"context\": \"a\"}\n{\"question\": \"who ?\", \"context\": \"b\"}\n",
            &["q.json:2", "JSON lines", "SQuAD"],
        ),
        (
            "{\"data\": [\n  {\"paragraphs\": [}\n]}\n",
            &["q.json:2", "invalid JSON", "SQuAD"],
        ),
        (
            "{\"data\": [{\"paragraphs\": []}]\n",
            &["q.json:1", "invalid JSON", "SQuAD"],
        ),
        (
            "{\"text\": \"a\", \"label\": 1}",
            &["q.json", "keys label, text", "SQuAD"],
        ),
        ("[1, 2]", &["q.json", "JSON array", "SQuAD"]),
    ] {
        assert_names(parse_qa_examples(contents, "q.json"), needles);
    }
    // Bytes that are not UTF-8 text: the line they stand on.
    for (bytes, needles) in [
        (b"text\tlabel\nab\xffc\t1\n".to_vec(), &["b.tsv:2", "not UTF-8"][..]),
        (b"text\tlabel\n\nx\x00\t1\n".to_vec(), &["b.tsv:3", "NUL", "binary"]),
        (b"\xff\xfet\x00e\x00".to_vec(), &["b.tsv:1", "UTF-16"]),
        (b"\x1f\x8b\x08\x00".to_vec(), &["b.tsv:1", "NUL"]),
    ] {
        assert_names(decode_text(bytes, "b.tsv"), needles);
    }
    // A byte order mark and CRLF line ends are fine.
    let ex = parse_text_examples("\u{feff}text\tlabel\r\nthe king\tx\r\n", "w.tsv").unwrap();
    assert_eq!((ex[0].text.as_str(), ex[0].label.as_deref()), ("the king", Some("x")));
    let ex = parse_text_examples("\u{feff}text,label\r\nthe king,x\r\n", "w.csv").unwrap();
    assert_eq!((ex[0].text.as_str(), ex[0].label.as_deref()), ("the king", Some("x")));
    let ex = parse_text_examples("\u{feff}{\"text\": \"a\", \"label\": \"x\"}\r\n", "w.jsonl").unwrap();
    assert_eq!(ex[0].label.as_deref(), Some("x"));
    let ex = parse_token_examples("\u{feff}the O\r\nking B-PER\r\n\r\nran O\r\n", "w.conll").unwrap();
    assert_eq!((ex.len(), ex[0].tags.clone().unwrap()), (2, strings(&["O", "B-PER"])));
    assert_eq!(
        parse_qa_examples(&format!("\u{feff}{}", squad.replace('\n', "\r\n")), "w.json")
            .unwrap()
            .len(),
        40
    );
}

#[test]
fn other_hostile_rows_are_named_or_accepted() {
    // Two header columns for one field: which one is meant is not for the reader to guess.
    for header in [
        "text\tsentence\tlabel",
        "text\tlabel\tlabel",
        "sentence1\tsentence2\ttext_pair\tlabel",
    ] {
        let contents = format!("{header}\n{}\n", vec!["a"; header.split('\t').count()].join("\t"));
        assert_names(
            parse_text_examples(&contents, "dup.tsv"),
            &["dup.tsv:1", "columns for one field"],
        );
    }
    // Extra columns are ignored (transformers' scripts drop them); rows with extra fields are not.
    let ex = parse_text_examples("idx\ttext\tlabel\tsource\n0\tthe king\tx\twiki\n", "extra.tsv").unwrap();
    assert_eq!((ex[0].text.as_str(), ex[0].label.as_deref()), ("the king", Some("x")));
    assert_names(
        parse_text_examples("text\tlabel\nthe king\tx\ty\n", "extra.tsv"),
        &["extra.tsv:2", "3 fields"],
    );
    // A quoted CSV field with line breaks: the next row's line is its own.
    let ex = parse_text_examples("text,label\n\"the\nking\",x\nthe queen,\n", "nl.csv");
    assert_names(ex, &["nl.csv:4", "empty label"]);
    // A regression label that is not a number.
    let e = task_data("seq-cls", "seq-reg", "text\tlabel\na\t0.5\nb\thigh\n", "reg.tsv");
    assert_names(e, &["reg.tsv:3", "\"high\"", "not a number", "regression"]);
    // An eval label that the training file, whose labels the model learns, does not have.
    let train = Examples::parse(
        Task::parse("pair-cls").unwrap(),
        "text,text_pair,label\na,b,yes\nc,d,no\n",
        "t.csv",
    )
    .unwrap();
    let map = LabelMap::from_values(train.label_values());
    let eval = Examples::parse(
        Task::parse("pair-cls").unwrap(),
        "text,text_pair,label\na,b,no\nc,d,maybe\n",
        "e.csv",
    )
    .unwrap();
    let config = bert_wgpu::model::BertConfig::new(10, 8, 1, 2, 16); // no id2label: labels from the file
    let e = eval.check_labels_trained(Some(&map), &config, "e.csv", "t.csv");
    assert_names(e, &["e.csv:3", "\"maybe\"", "training file t.csv", "no, yes"]);
    // A model with its own id2label checks each label as it is read; no labels (regression): nothing.
    let mut labelled = config.clone();
    map.write_to_config(&mut labelled);
    assert!(eval
        .check_labels_trained(Some(&map), &labelled, "e.csv", "t.csv")
        .is_ok());
    assert!(eval.check_labels_trained(None, &config, "e.csv", "t.csv").is_ok());
    let eval = Examples::parse(Task::parse("token-cls").unwrap(), "a O\n\nb O\nc B-X\n", "e.conll").unwrap();
    let map = LabelMap::from_values(["O"]);
    assert_names(
        eval.check_labels_trained(Some(&map), &config, "e.conll", "t.conll"),
        &["e.conll:4", "\"B-X\""],
    );
    // An unknown label at evaluation.
    let e = task_data(
        "pair-cls",
        "seq-cls",
        "text\ttext_pair\tlabel\na\tb\tneutral\nc\td\tmaybe\n",
        "e.tsv",
    );
    assert_names(e, &["e.tsv:3", "\"maybe\"", "entailment, neutral, contradiction"]);
}

fn text(t: &str, pair: Option<&str>, label: &str) -> TextExample {
    TextExample {
        line: 0,
        text: t.into(),
        text_pair: pair.map(Into::into),
        label: Some(label.into()),
    }
}

#[test]
fn seq_cls_features_match_the_reference_batch() {
    let ex = [
        text("the king went to paris .", Some("the king went to paris"), "entailment"),
        text(
            "my mother walked home with the dog .",
            Some("the girl played in the garden"),
            "neutral",
        ),
        text(
            "the queen loved the horses .",
            Some("the queen did not love the horses"),
            "contradiction",
        ),
        text("i ran", Some("you ran"), "neutral"),
    ];
    let f = text_features(&tokenizer("seq-cls"), &ex, Some(&labels("seq-cls")), 64, "ref").unwrap();
    let [ids, types, want] = ["input_ids", "token_type_ids", "labels"].map(|name| ints("seq-cls", name));
    for (r, f) in f.iter().enumerate() {
        assert_eq!(f.ids, row(&ids, r, f.ids.len()), "row {r}");
        assert!(
            ids.1[r * 19 + f.ids.len()..(r + 1) * 19].iter().all(|&v| v == 0),
            "row {r}: padding"
        );
        assert_eq!(f.type_ids, row(&types, r, f.ids.len()), "row {r}");
        assert_eq!(f.target, Target::Class(want.1[r] as u32));
        assert!(!f.truncated);
    }
    // Longest first: the longer text loses tokens from its end, both [SEP] stay.
    let f = text_features(&tokenizer("seq-cls"), &ex[1..2], Some(&labels("seq-cls")), 12, "ref").unwrap();
    let tok = tokenizer("seq-cls");
    assert_eq!(
        tok.decode(&f[0].ids, false),
        "[CLS] my mother walked home [SEP] the girl played [SEP]"
    );
    assert!(f[0].truncated);
}

#[test]
fn seq_reg_features_match_the_reference_batch() {
    let ex = [
        text("it is a truth universally acknowledged .", None, "0.75"),
        text("the kings played in the garden", None, "-1.5"),
        text("a sad day", None, "2.25"),
    ];
    let f = text_features(&tokenizer("seq-reg"), &ex, None, 64, "ref").unwrap();
    let ids = ints("seq-reg", "input_ids");
    let bytes = std::fs::read(fixture("seq-reg-reference.safetensors")).unwrap();
    let want = load(&bytes, "ref")
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == "labels")
        .unwrap()
        .1;
    for (r, f) in f.iter().enumerate() {
        assert_eq!(f.ids, row(&ids, r, f.ids.len()));
        assert_eq!(f.type_ids, vec![0; f.ids.len()]);
        assert_eq!(f.target, Target::Value(want.data[r]));
    }
    let bad = [text("x", None, "high")];
    assert!(err(text_features(&tokenizer("seq-reg"), &bad, None, 64, "r.tsv")).contains("r.tsv:0"));
}

#[test]
fn token_cls_features_match_the_reference_batch() {
    let ex: Vec<TokenExample> = [
        ("queen pride walked to london town .", "B-PER I-PER O O B-LOC I-LOC O"),
        ("the kings of france loved paris", "O O O B-LOC O B-LOC"),
        ("lady fortune played .", "B-PER I-PER O O"),
    ]
    .iter()
    .map(|(w, t)| TokenExample {
        line: 1,
        tokens: w.split(' ').map(Into::into).collect(),
        tags: Some(t.split(' ').map(Into::into).collect()),
    })
    .collect();
    let f = token_features(&tokenizer("token-cls"), &ex, Some(&labels("token-cls")), 64, "ref").unwrap();
    let [ids, want, words] = ["input_ids", "labels", "word_ids"].map(|name| ints("token-cls", name));
    for (r, f) in f.iter().enumerate() {
        let n = f.feature.ids.len();
        assert_eq!(f.feature.ids, row(&ids, r, n), "row {r}");
        let labels: Vec<u32> = want.1[r * 10..r * 10 + n]
            .iter()
            .map(|&v| if v < 0 { IGNORE } else { v as u32 })
            .collect();
        assert_eq!(f.feature.target, Target::Tokens(labels), "row {r}");
        let word_ids: Vec<Option<u32>> = words.1[r * 10..r * 10 + n]
            .iter()
            .map(|&v| u32::try_from(v).ok())
            .collect();
        assert_eq!(f.word_ids, word_ids, "row {r}");
    }
    assert_eq!(
        word_predictions(&f[1].word_ids, &[9, 0, 1, 7, 2, 3, 4, 7, 5, 9]),
        [0, 1, 2, 3, 4, 5]
    );
    // Truncation keeps [SEP] and the first pieces of the words that remain.
    let f = token_features(&tokenizer("token-cls"), &ex[..1], Some(&labels("token-cls")), 5, "ref").unwrap();
    assert_eq!(f[0].feature.target, Target::Tokens(vec![IGNORE, 1, 2, 0, IGNORE]));
    assert_eq!(f[0].feature.ids.last(), Some(&3));
    assert!(f[0].feature.truncated);
}

fn qa(id: &str, question: &str, context: &str, answer: Option<&str>) -> QaExample {
    let answers = answer.map(|a| Answer {
        text: a.into(),
        start: context.find(a).unwrap(),
    });
    QaExample {
        id: id.into(),
        question: question.into(),
        context: context.into(),
        answers: answers.into_iter().collect(),
    }
}

#[test]
fn qa_features_match_the_reference_batch() {
    let ex = [
        qa(
            "0",
            "where did the prince live ?",
            "the prince lived in new england with his wife .",
            Some("new england"),
        ),
        qa("1", "who walked home ?", "lady pride walked home .", Some("lady pride")),
        qa("2", "who married the king ?", "the dog ran home .", None),
    ];
    let f = qa_features(&tokenizer("qa"), &ex, 64, 16, true).unwrap();
    assert_eq!(f.len(), 3);
    let (ids, types) = (ints("qa", "input_ids"), ints("qa", "token_type_ids"));
    let (starts, ends) = (ints("qa", "start_positions"), ints("qa", "end_positions"));
    for (r, f) in f.iter().enumerate() {
        let n = f.feature.ids.len();
        assert_eq!(f.feature.ids, row(&ids, r, n), "row {r}");
        assert_eq!(f.feature.type_ids, row(&types, r, n), "row {r}");
        let span = Target::Span {
            start: starts.1[r] as u32,
            end: ends.1[r] as u32,
        };
        assert_eq!(f.feature.target, span, "row {r}");
        assert_eq!(f.feature.example, r);
    }
    assert_eq!(f[0].context, 8..18);
    assert_eq!(f[0].offsets[12], Some((20, 23)));
    assert_eq!(f[0].offsets[0], None);
}

#[test]
fn qa_training_windows() {
    let ex = read_qa_examples(&fixture("qa-train.json")).unwrap();
    let f = qa_features(&tokenizer("qa"), &ex, 64, 16, true).unwrap();
    assert_eq!(f.len(), 212);
    let ranges = example_ranges(&f);
    assert_eq!(ranges.len(), 200);
    assert_eq!(ranges.iter().filter(|r| r.len() == 2).count(), 12);
    assert!(ranges.iter().enumerate().all(|(i, r)| f[r.start].feature.example == i));
    let tok = tokenizer("qa");
    for f in &f {
        assert!(f.feature.ids.len() <= 64);
        let e = &ex[f.feature.example];
        if let Target::Span { start, end } = f.feature.target {
            if start > 0 {
                let text = tok.decode(&f.feature.ids[start as usize..=end as usize], true);
                assert_eq!(text, e.answers[0].text, "{}", e.id);
            } else {
                assert!(
                    f.feature.truncated,
                    "{}: only a window of a long context may miss the answer",
                    e.id
                );
            }
        }
    }
    // Consecutive windows of one example share `stride` context tokens.
    let pair: Vec<&QaFeature> = f.iter().filter(|f| f.feature.truncated).take(2).collect();
    let (a, b) = (pair[0], pair[1]);
    assert_eq!(a.feature.example, b.feature.example);
    let tail = &a.feature.ids[a.context.end - 16..a.context.end];
    assert_eq!(tail, &b.feature.ids[b.context.start..b.context.start + 16]);
    let e = err(qa_features(&tokenizer("qa"), &ex[..1], 20, 16, true));
    assert!(e.contains("q000-0") && e.contains("stride"), "{e}");
}

#[test]
fn char_offsets_count_characters() {
    let tok = tokenizer("qa");
    let text = "café 서울 paris";
    let enc = tok.encode(text, None).unwrap();
    let chars = char_offsets(text, &enc.offsets);
    let last = enc.len() - 2; // "paris", before [SEP]
    assert_eq!(enc.offsets[last], (13, 18));
    assert_eq!(chars[last], (8, 13));
    assert_eq!(char_offsets("é", &[(0, 2), (1, 2)]), [(0, 1), (1, 1)]);
}

fn tags(s: &str) -> Vec<String> {
    s.split(' ').map(Into::into).collect()
}

#[test]
fn classification_metrics() {
    let (gold, pred) = ([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]);
    assert!((accuracy(&gold, &pred) - 4.0 / 6.0).abs() < 1e-12);
    // F1 per label: 0: tp 1 fp 1 fn 1 -> 0.5; 1: tp 2 fp 1 fn 0 -> 0.8; 2: tp 1 fp 0 fn 1 -> 2/3.
    assert!((macro_f1(&gold, &pred, 3) - (0.5 + 0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    // Labels that occur nowhere are not averaged (scikit-learn's default).
    assert!((macro_f1(&[0, 1], &[0, 1], 5) - 1.0).abs() < 1e-12);
    let m = Metrics::classification(&gold, &pred, 3);
    assert!(m.line().starts_with("accuracy 0.6667 macro_f1 0.6556"), "{}", m.line());
    assert_eq!(
        serde_json::to_string(&Metrics::squad(&[], &[])).unwrap(),
        r#"{"exact_match":0.0,"f1":0.0}"#
    );
}

#[test]
fn entity_metrics_follow_seqeval() {
    let e = |s: &str| entities(&tags(s));
    assert_eq!(e("B-PER I-PER O B-LOC"), [("PER".into(), 0, 1), ("LOC".into(), 3, 3)]);
    // Non-strict: an I- after O or after another type starts an entity; B-B are two entities.
    assert_eq!(e("O I-PER I-PER"), [("PER".into(), 1, 2)]);
    assert_eq!(e("B-PER I-LOC"), [("PER".into(), 0, 0), ("LOC".into(), 1, 1)]);
    assert_eq!(e("B-PER B-PER"), [("PER".into(), 0, 0), ("PER".into(), 1, 1)]);
    assert_eq!(e("I-LOC"), [("LOC".into(), 0, 0)]);
    assert_eq!(e("O O"), []);
    // seqeval: gold [[O O O B-MISC I-MISC I-MISC O], [B-PER I-PER O]],
    //          pred [[O O B-MISC I-MISC I-MISC I-MISC O], [B-PER I-PER O]] -> P = R = F1 = 0.5.
    let gold = [tags("O O O B-MISC I-MISC I-MISC O"), tags("B-PER I-PER O")];
    let pred = [tags("O O B-MISC I-MISC I-MISC I-MISC O"), tags("B-PER I-PER O")];
    assert_eq!(
        entity_scores(&gold, &pred),
        Prf {
            precision: 0.5,
            recall: 0.5,
            f1: 0.5
        }
    );
    // Three predicted, two right (LOC 2..3 is cut short), of three gold: P = R = F1 = 2/3.
    let gold = [tags("B-PER O B-LOC I-LOC B-PER")];
    let pred = [tags("B-PER O B-LOC O I-PER")];
    let s = entity_scores(&gold, &pred);
    let third = |v: f64| (v - 2.0 / 3.0).abs() < 1e-12;
    assert!(third(s.precision) && third(s.recall) && third(s.f1), "{s:?}");
    let s = entity_scores(&gold, &[tags("B-PER O O O O")]);
    assert!((s.precision - 1.0).abs() < 1e-12 && (s.recall - 1.0 / 3.0).abs() < 1e-12 && (s.f1 - 0.5).abs() < 1e-12);
    assert_eq!(
        entity_scores(&gold, &[tags("O O O O O")]),
        Prf {
            precision: 0.0,
            recall: 0.0,
            f1: 0.0
        }
    );
    let eval: Vec<Vec<String>> = read_token_examples(&fixture("ner-eval.conll"))
        .unwrap()
        .into_iter()
        .map(|e| e.tags.unwrap())
        .collect();
    assert_eq!(entity_scores(&eval, &eval).f1, 1.0);
}

#[test]
fn squad_metrics() {
    assert_eq!(normalize_answer("  The Old-Book, a story!  "), "oldbook story");
    assert_eq!(normalize_answer("An apple and THE pear"), "apple and pear");
    assert_eq!(normalize_answer("theatre a.n"), "theatre");
    assert_eq!(squad_f1("the old book", "a old letter"), 0.5);
    assert_eq!(squad_f1("the", "a"), 0.0);
    let preds = strings(&["London Town", "the book", "paris"]);
    let golds = vec![
        strings(&["london town"]),
        strings(&["a long book", "the book ."]),
        strings(&["france"]),
    ];
    let (em, f1) = squad_scores(&preds, &golds);
    assert!((em - 200.0 / 3.0).abs() < 1e-9, "{em}");
    assert!((f1 - 200.0 / 3.0).abs() < 1e-9, "{f1}");
    let (em, f1) = squad_scores(&strings(&["long book x"]), &[strings(&["a long book"])]);
    // 2 of 3 predicted tokens in the 2 gold tokens: P 2/3, R 1, F1 0.8.
    assert_eq!(em, 0.0);
    assert!((f1 - 80.0).abs() < 1e-9, "{f1}");
}

#[test]
fn classify_sorts_all_labels() {
    let map = labels("seq-cls");
    let out = classify(&[1.0, 3.0, 2.0], &map);
    let names: Vec<&str> = out.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(names, ["neutral", "contradiction", "entailment"]);
    let z = 1.0 + (-1.0f64).exp() + (-2.0f64).exp();
    assert!((out[0].score - 1.0 / z).abs() < 1e-12);
    let json = serde_json::to_string(&classify(&[0.0, 0.0, 0.0], &map)).unwrap();
    assert!(json.starts_with(r#"[{"label":"entailment","score":0.333"#), "{json}");
    assert_eq!(
        classify(&[-1.25], &labels("seq-reg")),
        [LabelScore {
            label: "score".into(),
            score: -1.25
        }]
    );
    assert_eq!(ScoreFunction::from_config(&config("seq-reg"), 1), ScoreFunction::None);
    assert_eq!(
        ScoreFunction::from_config(&config("seq-cls"), 3),
        ScoreFunction::Softmax
    );
    assert_eq!(ScoreFunction::from_config(&config("qa"), 1), ScoreFunction::Sigmoid);
    assert!((classify_with(&[0.0], &map, ScoreFunction::Sigmoid)[0].score - 0.5).abs() < 1e-12);
}

/// (T, 5) logits with `hot[t]` = (label, logit) and 0 elsewhere.
fn one_hot(hot: &[(usize, f32)]) -> Vec<f32> {
    let mut out = vec![0.0; hot.len() * 5];
    for (t, &(l, v)) in hot.iter().enumerate() {
        out[t * 5 + l] = v;
    }
    out
}

#[test]
fn entities_aggregate_simple() {
    let tok = tokenizer("token-cls");
    let map = labels("token-cls"); // O B-PER I-PER B-LOC I-LOC
    let text = "queen pride walked to london town .";
    let enc = tok.encode(text, None).unwrap();
    // [CLS] queen pride walk ##ed to london town . [SEP]
    let logits = one_hot(&[
        (0, 9.0),
        (1, 2.0),
        (2, 3.0),
        (2, 1.0),
        (2, 1.0),
        (0, 5.0),
        (3, 4.0),
        (4, 4.0),
        (3, 1.0),
        (1, 9.0),
    ]);
    let out = aggregate_entities(&tok, text, &enc, &logits, &map);
    let p = |v: f64| v.exp() / (v.exp() + 4.0);
    let want = [
        (
            "PER",
            (p(2.0) + p(3.0) + 2.0 * p(1.0)) / 4.0,
            "queen pride walked",
            0,
            18,
        ),
        ("LOC", p(4.0), "london town", 22, 33),
        ("LOC", p(1.0), ".", 34, 35),
    ];
    assert_eq!(out.len(), want.len(), "{out:?}");
    for (o, w) in out.iter().zip(want) {
        assert_eq!(
            (o.entity_group.as_str(), o.word.as_str(), o.start, o.end),
            (w.0, w.2, w.3, w.4)
        );
        assert!((o.score - w.1).abs() < 1e-9, "{o:?}");
    }
    let json = serde_json::to_value(&out[1]).unwrap();
    assert_eq!(json["entity_group"], "LOC");
    assert_eq!(json["word"], "london town");
    // Character offsets after non-ASCII text.
    let text = "café london";
    let enc = tok.encode(text, None).unwrap();
    let n = enc.len();
    let mut hot = vec![(0, 9.0); n];
    hot[n - 2] = (3, 9.0);
    let out = aggregate_entities(&tok, text, &enc, &one_hot(&hot), &map);
    assert_eq!((out[0].start, out[0].end, out[0].word.as_str()), (5, 11, "london"));
}

#[test]
fn qa_answers_from_logits() {
    let tok = tokenizer("qa");
    let context = "lady pride walked home in london town .";
    let ex = [qa("x", "who walked home ?", context, None)];
    let f = qa_features(&tok, &ex, 64, 32, false).unwrap();
    assert_eq!(f.len(), 1);
    let f = &f[0];
    assert_eq!(f.feature.target, Target::None);
    // [CLS] who walk ##ed home ? [SEP] lady pride walk ##ed home in london town . [SEP]
    assert_eq!(f.context, 7..16);
    let t = f.feature.ids.len();
    let mut start = vec![0.0f32; t];
    let mut end = vec![0.0f32; t];
    start[0] = 20.0; // [CLS] is zeroed after the softmax
    end[0] = 20.0;
    start[1] = 30.0; // the question is never an answer
    start[10] = 2.0; // "##ed": widened to "walked"
    end[11] = 2.0; // "home"
    end[14] = 2.5; // "town": p_end larger, but 5 tokens from "##ed"
    let windows = [(f, &start[..], &end[..])];
    let got = best_answer(context, &windows, 3).unwrap();
    assert_eq!((got.start, got.end, got.answer.as_str()), (11, 22, "walked home"));
    let ps = |logits: &[f32], i: usize| -> f64 {
        let allowed: Vec<usize> = std::iter::once(0).chain(7..16).collect();
        let max = allowed.iter().map(|&j| logits[j] as f64).fold(f64::MIN, f64::max);
        let sum: f64 = allowed.iter().map(|&j| (logits[j] as f64 - max).exp()).sum();
        (logits[i] as f64 - max).exp() / sum
    };
    assert!((got.score - ps(&start, 10) * ps(&end, 11)).abs() < 1e-15);
    let got = best_answer(context, &windows, 15).unwrap();
    assert_eq!(got.answer, "walked home in london town");
    // The evaluation search: start + end logits over context tokens, no widening.
    let got = best_answer_by_logits(context, &windows, 8).unwrap();
    assert_eq!(
        (got.answer.as_str(), got.start, got.end, got.score),
        ("ed home in london town", 15, 37, 4.5)
    );
    assert_eq!(best_answer_by_logits(context, &windows, 4).unwrap().answer, "ed home");
    // Several windows: the best one wins.
    let long = format!("{} the king lived in paris .", "the dog ran home . ".repeat(12));
    let ex = [qa("y", "who lived in paris ?", &long, None)];
    let f = qa_features(&tok, &ex, 64, 32, false).unwrap();
    assert!(f.len() > 1);
    // The last window ends "... the king lived in paris . [SEP]": it gets "the king" sharply, the
    // first window "the dog" less sharply.
    let logits: Vec<(Vec<f32>, Vec<f32>)> = (f.iter().enumerate())
        .map(|(i, w)| {
            let (mut s, mut e) = (vec![0.0; w.feature.ids.len()], vec![0.0; w.feature.ids.len()]);
            let (at, logit) = if i == f.len() - 1 {
                (w.context.end - 6, 8.0)
            } else {
                (w.context.start, 4.0)
            };
            s[at] = logit;
            e[at + 1] = logit;
            (s, e)
        })
        .collect();
    let windows: Vec<WindowLogits> = f.iter().zip(&logits).map(|(w, (s, e))| (w, &s[..], &e[..])).collect();
    let got = best_answer(&long, &windows, 15).unwrap();
    assert_eq!(got.answer, "the king");
    assert_eq!(&long[got.start..got.end], "the king");
    assert_eq!(best_answer_by_logits(&long, &windows, 8).unwrap().answer, "the king");
}

/// `bert-wgpu predict`'s table without `--json`: the best label before the text, the entities under the text,
/// the answer (or its absence) under the question.
#[test]
fn prediction_summary_is_the_predict_table() {
    use bert_wgpu::tasks::pipeline::{Entity, PredictInput, Prediction, QaAnswer};
    let text = PredictInput::Text {
        text: "a fine film".into(),
        text_pair: None,
    };
    let scores = vec![
        LabelScore {
            label: "positive".into(),
            score: 0.75,
        },
        LabelScore {
            label: "negative".into(),
            score: 0.25,
        },
    ];
    assert_eq!(
        Prediction::Labels(scores).summary(&text),
        "positive   0.7500  a fine film"
    );
    let entity = Entity {
        entity_group: "PER".into(),
        score: 0.5,
        word: "king fortune".into(),
        start: 0,
        end: 12,
    };
    assert_eq!(
        Prediction::Entities(vec![entity.clone(), entity]).summary(&text),
        "a fine film\n  PER      0.5000  \"king fortune\" [0..12]\n  PER      0.5000  \"king fortune\" [0..12]"
    );
    assert_eq!(Prediction::Entities(vec![]).summary(&text), "a fine film");
    let question = PredictInput::Question {
        question: "who ?".into(),
        context: "the king".into(),
    };
    let answer = QaAnswer {
        score: 0.5,
        start: 4,
        end: 8,
        answer: "king".into(),
    };
    assert_eq!(
        Prediction::Answer(Some(answer)).summary(&question),
        "who ?\n  \"king\" 0.5000 [4..8]"
    );
    assert_eq!(Prediction::Answer(None).summary(&question), "who ?\n  (no answer)");
}
