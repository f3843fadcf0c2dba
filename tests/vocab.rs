//! WordPiece vocabulary training (bert_wgpu::vocab) on small English and Korean texts written here: special
//! tokens first, files that load back through BertTokenizer, Hangul kept whole, the accent decision.

use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::vocab::{train_wordpiece, VocabFiles, VocabOptions, WordPieceBuilder, SPECIAL_TOKENS};
use serde_json::Value;

const ENGLISH: &str = "\
It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.
However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.
\"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard that Netherfield Park is let at last?\"
Mr. Bennet replied that he had not.

\"But it is,\" returned she; \"for Mrs. Long has just been here, and she told me all about it.\"
Mr. Bennet made no answer.
\"Do you not want to know who has taken it?\" cried his wife impatiently.
The café was open; the naïve rôle of the fiancée was discussed at length.
";

const KOREAN: &str = "\
대한민국은 민주공화국이다.
대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.
대한민국의 국민이 되는 요건은 법률로 정한다.
국가는 법률이 정하는 바에 의하여 재외국민을 보호할 의무를 진다.

대한민국의 영토는 한반도와 그 부속도서로 한다.
대한민국은 통일을 지향하며, 자유민주적 기본질서에 입각한 평화적 통일 정책을 수립하고 이를 추진한다.
국제평화의 유지에 노력하고 침략적 전쟁을 부인한다.
";

fn options(size: usize) -> VocabOptions {
    VocabOptions {
        vocab_size: size,
        min_frequency: 1,
        ..VocabOptions::default()
    }
}

/// The corpus repeated, so that merges have counts to work with.
fn train(text: &str, opts: &VocabOptions) -> VocabFiles {
    train_wordpiece(std::iter::repeat_n(text, 5), opts).unwrap()
}

fn load(files: &VocabFiles, with_json: bool) -> BertTokenizer {
    let json = with_json.then_some(files.tokenizer_json.as_bytes());
    BertTokenizer::from_files(
        json,
        Some(files.vocab_txt.as_bytes()),
        Some(files.tokenizer_config_json.as_bytes()),
    )
    .unwrap()
}

#[test]
fn english_vocab_has_the_special_tokens_first_and_loads_back() {
    let files = train(ENGLISH, &options(300));
    let lines: Vec<&str> = files.vocab_txt.lines().collect();
    assert_eq!(lines[..5], SPECIAL_TOKENS);
    assert_eq!(lines.len(), files.vocab_size);
    assert!(files.vocab_size <= 300, "{}", files.vocab_size);
    assert!(lines.iter().any(|t| t.starts_with("##")));
    // Lower-cased, accents stripped (a Latin-script corpus, auto).
    assert!(files.strip_accents);
    let odd: Vec<&&str> = lines[5..]
        .iter()
        .filter(|t| t.chars().any(|c| c.is_uppercase() || "éïô".contains(c)))
        .collect();
    assert!(odd.is_empty(), "{odd:?}");

    let tk = load(&files, true);
    assert_eq!(
        (tk.pad_id(), tk.unk_id(), tk.cls_id(), tk.sep_id(), tk.mask_id()),
        (0, 1, 2, 3, Some(4))
    );
    assert_eq!(tk.vocab_size(), files.vocab_size);
    // tokenizer.json and vocab.txt alone give the same ids.
    let from_vocab = load(&files, false);
    for line in ENGLISH.lines().filter(|l| !l.is_empty()) {
        assert_eq!(
            tk.encode(line, None).unwrap(),
            from_vocab.encode(line, None).unwrap(),
            "{line}"
        );
    }
    let enc = tk
        .encode("Mr. Bennet made no answer.", Some("The café was open."))
        .unwrap();
    assert_eq!(enc.ids[0], 2);
    assert_eq!(enc.ids.iter().filter(|&&t| t == 3).count(), 2);
    assert_eq!(*enc.type_ids.last().unwrap(), 1);
    assert!(!enc.ids.contains(&1), "no [UNK] for words of the corpus");
    let single = tk.encode("The café was open.", None).unwrap();
    assert_eq!(tk.decode(&single.ids, true), "the cafe was open.");
    // "[MASK]" in text is the mask token.
    assert_eq!(tk.encode("a [MASK] b", None).unwrap().ids[2], 4);
}

#[test]
fn the_configuration_files_say_what_was_trained() {
    let files = train(ENGLISH, &options(200));
    let config: Value = serde_json::from_str(&files.tokenizer_config_json).unwrap();
    assert_eq!(config["do_lower_case"], true);
    assert_eq!(config["strip_accents"], true);
    assert_eq!(config["tokenizer_class"], "BertTokenizer");
    assert_eq!(config["mask_token"], "[MASK]");
    let map: Value = serde_json::from_str(&files.special_tokens_map_json).unwrap();
    for (key, token) in [
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("pad_token", "[PAD]"),
        ("unk_token", "[UNK]"),
    ] {
        assert_eq!(map[key], token);
    }
    let json: Value = serde_json::from_str(&files.tokenizer_json).unwrap();
    assert_eq!(json["normalizer"]["type"], "BertNormalizer");
    assert_eq!(json["normalizer"]["strip_accents"], true);
    assert_eq!(json["pre_tokenizer"]["type"], "BertPreTokenizer");
    assert_eq!(json["decoder"]["type"], "WordPiece");
    assert_eq!(json["post_processor"]["type"], "TemplateProcessing");
    let added: Vec<&str> = json["added_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    assert_eq!(added, SPECIAL_TOKENS);

    // Cased, accents kept on request.
    let cased = train(
        ENGLISH,
        &VocabOptions {
            lowercase: false,
            strip_accents: Some(false),
            ..options(200)
        },
    );
    let config: Value = serde_json::from_str(&cased.tokenizer_config_json).unwrap();
    assert_eq!(
        (config["do_lower_case"].clone(), config["strip_accents"].clone()),
        (false.into(), false.into())
    );
    let tk = load(&cased, true);
    let ids = tk.encode("The café", None).unwrap().ids;
    assert_eq!(tk.decode(&ids, true), "The café");
}

#[test]
fn korean_syllables_survive() {
    let files = train(KOREAN, &options(400));
    // Mostly Hangul: auto keeps the accents (stripping would take the syllables apart into jamo).
    assert!(!files.strip_accents);
    let lines: Vec<&str> = files.vocab_txt.lines().collect();
    assert_eq!(lines[..5], SPECIAL_TOKENS);
    let hangul = |c: char| ('\u{AC00}'..='\u{D7A3}').contains(&c);
    let jamo = |c: char| ('\u{1100}'..='\u{11FF}').contains(&c);
    assert!(lines.iter().any(|t| t.chars().any(hangul)));
    assert!(!lines.iter().any(|t| t.chars().any(jamo)), "jamo in the vocabulary");
    let tk = load(&files, true);
    for line in KOREAN.lines().filter(|l| !l.is_empty()) {
        let enc = tk.encode(line, None).unwrap();
        assert!(!enc.ids.contains(&1), "[UNK] in {line}");
        // WordPiece decoding puts spaces around punctuation; the syllables are all there.
        let text = tk.decode(&enc.ids, true).replace(' ', "");
        assert_eq!(text, line.replace(' ', ""));
    }
    assert_eq!(tk.decode(&tk.encode("대한민국", None).unwrap().ids, true), "대한민국");

    // What stripping would do: conjoining jamo instead of syllables.
    let stripped = train(
        KOREAN,
        &VocabOptions {
            strip_accents: Some(true),
            ..options(400)
        },
    );
    assert!(stripped.vocab_txt.chars().any(jamo));
}

#[test]
fn the_same_text_gives_the_same_vocabulary_however_it_is_chunked() {
    let text = format!("{ENGLISH}\n{KOREAN}").repeat(3);
    let opts = options(500);
    let whole = train_wordpiece([text.as_str()], &opts).unwrap();
    let chars: Vec<char> = text.chars().collect();
    for chunk in [1, 3, 100] {
        let mut builder = WordPieceBuilder::new(opts.clone()).unwrap();
        for piece in chars.chunks(chunk) {
            builder.push_text(&piece.iter().collect::<String>()).unwrap();
        }
        let files = builder.finish().unwrap();
        assert_eq!(files.vocab_txt, whole.vocab_txt, "chunks of {chunk}");
        assert_eq!(files.tokenizer_json, whole.tokenizer_json, "chunks of {chunk}");
    }
}

#[test]
fn errors_for_no_text_or_no_room() {
    let e = train_wordpiece(["", "  \n\n "], &options(100)).unwrap_err().message;
    assert!(e.contains("no words"), "{e}");
    let e = train_wordpiece([ENGLISH], &options(5)).unwrap_err().message;
    assert!(e.contains("special tokens"), "{e}");
}
