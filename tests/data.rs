//! The pretraining data pipeline (train::data and its masking) against the original BERT recipe: masking
//! proportions and counts, instance layout and NSP, truncation, determinism, chunked reading, streaming
//! with exact resume, and the errors. Synthetic corpora built here; no files needed.

use bert_wgpu::rng::Rng;
use bert_wgpu::tokenizer::BertTokenizer;
use bert_wgpu::train::data::masking::{create_masked_lm_predictions, mask_dynamically, num_to_predict, MaskingVocab};
use bert_wgpu::train::data::{
    batch_instances, batch_instances_padded, create_training_instances, read_documents, truncate_seq_pair, Document,
    DocumentReader, Instance, InstanceStream, LossyUtf8, MaskKind, PretrainingOptions, StreamOptions, StreamState,
};

const PAD: u32 = 0;
const CLS: u32 = 2;
const SEP: u32 = 3;
const MASK: u32 = 4;

/// `n` ids: specials 0..=4 ([PAD] [UNK] [CLS] [SEP] [MASK]), then words; ids >= `first_piece` are ## pieces.
fn vocab(n: usize, first_piece: u32) -> MaskingVocab {
    let subword = (0..n as u32).map(|id| id >= first_piece).collect();
    MaskingVocab::new(CLS, SEP, PAD, MASK, subword).unwrap()
}

/// A corpus in which every token id is unique and ids grow along each document, so that an instance tells
/// where its tokens came from: the document of id t is `doc_of[t]`.
struct Corpus {
    docs: Vec<Document>,
    doc_of: Vec<usize>,
    vocab: MaskingVocab,
}

fn corpus(docs: usize, sentences: usize, max_len: usize, seed: u64) -> Corpus {
    let mut rng = Rng::new(seed);
    let mut next = 5u32;
    let mut doc_of = vec![usize::MAX; 5];
    let docs: Vec<Document> = (0..docs)
        .map(|d| {
            (0..sentences)
                .map(|_| {
                    let len = 1 + rng.below(max_len);
                    (0..len)
                        .map(|_| {
                            doc_of.push(d);
                            next += 1;
                            next - 1
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let vocab = vocab(next as usize, u32::MAX);
    Corpus { docs, doc_of, vocab }
}

impl Corpus {
    /// The training instances of the corpus with `opts`, drawn from `Rng::new(seed)`.
    fn instances(&self, opts: &PretrainingOptions, seed: u64) -> Vec<Instance> {
        create_training_instances(&self.docs, &self.vocab, opts, &mut Rng::new(seed)).unwrap()
    }
}

/// Checks `[CLS] A [SEP] B [SEP]` and the type ids; returns the unmasked A and B.
fn split(inst: &Instance, max_seq_length: usize) -> (Vec<u32>, Vec<u32>) {
    let ids = inst.unmasked_ids();
    let n = ids.len();
    assert!(n <= max_seq_length, "instance of {n} tokens > {max_seq_length}");
    assert_eq!(inst.type_ids.len(), n);
    assert_eq!(ids[0], CLS);
    assert_eq!(ids[n - 1], SEP);
    let sep = ids.iter().position(|&t| t == SEP).unwrap();
    assert!(!ids[sep + 1..n - 1].contains(&SEP), "more than two [SEP]");
    assert!(ids[1..n - 1].iter().all(|&t| t != CLS && t != PAD));
    for (i, &t) in inst.type_ids.iter().enumerate() {
        assert_eq!(t, (i > sep) as u32, "type id at {i}");
    }
    let (a, b) = (ids[1..sep].to_vec(), ids[sep + 1..n - 1].to_vec());
    assert!(!a.is_empty() && !b.is_empty());
    (a, b)
}

fn contiguous(ids: &[u32]) -> bool {
    ids.windows(2).all(|w| w[1] == w[0] + 1)
}

#[test]
fn num_to_predict_follows_the_original_formula() {
    let opts = PretrainingOptions::default();
    // min(20, max(1, round(len * 0.15))) with Python 3's round (halves to even).
    for (len, want) in [
        (3, 1),
        (5, 1),
        (10, 2),
        (20, 3),
        (30, 4),
        (50, 8),
        (70, 10),
        (128, 19),
        (130, 20),
        (200, 20),
    ] {
        assert_eq!(num_to_predict(len, &opts), want, "len {len}");
    }
}

#[test]
fn masking_is_80_10_10_and_never_touches_specials() {
    let vocab = vocab(1000, u32::MAX);
    let opts = PretrainingOptions::default();
    // [CLS] 100 words [SEP] 24 words [SEP] [PAD] [PAD]: 129 tokens, num_to_predict = round(19.35) = 19.
    let mut ids = vec![CLS];
    ids.extend(5..105);
    ids.push(SEP);
    ids.extend(200..224);
    ids.extend([SEP, PAD, PAD]);
    let n = num_to_predict(ids.len(), &opts);
    assert_eq!(n, 19);
    let mut rng = Rng::new(7);
    let (mut masked, mut random, mut kept) = (0usize, 0usize, 0usize);
    let mut hits = vec![0usize; ids.len()];
    for _ in 0..2000 {
        let m = create_masked_lm_predictions(&ids, &vocab, &opts, &mut rng);
        assert_eq!(m.positions.len(), n);
        assert!(
            m.positions.windows(2).all(|w| w[0] < w[1]),
            "positions ascending and distinct"
        );
        for ((&p, &label), &kind) in m.positions.iter().zip(&m.labels).zip(&m.kinds) {
            assert!(![CLS, SEP, PAD].contains(&ids[p]), "masked a special token at {p}");
            assert_eq!(label, ids[p]);
            hits[p] += 1;
            match kind {
                MaskKind::Masked => {
                    assert_eq!(m.ids[p], MASK);
                    masked += 1;
                }
                MaskKind::Kept => {
                    assert_eq!(m.ids[p], ids[p]);
                    kept += 1;
                }
                MaskKind::Random => {
                    assert!(m.ids[p] < 1000);
                    random += 1;
                }
            }
        }
        for (i, (&a, &b)) in ids.iter().zip(&m.ids).enumerate() {
            if !m.positions.contains(&i) {
                assert_eq!(a, b, "unchosen position {i} changed");
            }
        }
    }
    let total = (masked + random + kept) as f64;
    // 38,000 draws: the standard deviation of a 10% share is 0.0015.
    assert!(
        (masked as f64 / total - 0.8).abs() < 0.01,
        "[MASK] share {}",
        masked as f64 / total
    );
    assert!(
        (random as f64 / total - 0.1).abs() < 0.01,
        "random share {}",
        random as f64 / total
    );
    assert!(
        (kept as f64 / total - 0.1).abs() < 0.01,
        "kept share {}",
        kept as f64 / total
    );
    // Every word is a candidate, uniformly: 2000 · 19 / 124 = 306 hits expected each.
    let words: Vec<usize> = (0..ids.len()).filter(|&i| ![CLS, SEP, PAD].contains(&ids[i])).collect();
    assert!(words.iter().all(|&i| (200..420).contains(&hits[i])), "{hits:?}");
}

#[test]
fn a_sequence_with_one_candidate_masks_it() {
    let vocab = vocab(100, u32::MAX);
    let m = create_masked_lm_predictions(
        &[CLS, 42, SEP, PAD],
        &vocab,
        &PretrainingOptions::default(),
        &mut Rng::new(1),
    );
    assert_eq!(m.positions, [1]);
    assert_eq!(m.labels, [42]);
}

#[test]
fn whole_word_masking_masks_every_piece_of_a_word() {
    // Words 5..500, pieces (##) 500..1000. 40 words of 3 pieces: [CLS] w ##p ##p ... [SEP].
    let vocab = vocab(1000, 500);
    let mut ids = vec![CLS];
    for w in 0..40 {
        ids.extend([5 + w, 500 + 2 * w, 501 + 2 * w]);
    }
    ids.push(SEP);
    let opts = PretrainingOptions {
        whole_word_masking: true,
        ..PretrainingOptions::default()
    };
    let n = num_to_predict(ids.len(), &opts); // round(122 · 0.15) = 18
    let mut rng = Rng::new(3);
    for _ in 0..500 {
        let m = create_masked_lm_predictions(&ids, &vocab, &opts, &mut rng);
        // Whole words only; a word that would overshoot num_to_predict is skipped.
        assert!(
            m.positions.len() <= n && m.positions.len() + 2 >= n,
            "{} of {n}",
            m.positions.len()
        );
        for &p in &m.positions {
            let start = 1 + (p - 1) / 3 * 3;
            for q in start..start + 3 {
                assert!(m.positions.contains(&q), "position {p} masked without {q} of its word");
            }
        }
    }
    // Without it, pieces are chosen alone.
    let plain = PretrainingOptions::default();
    let m = create_masked_lm_predictions(&ids, &vocab, &plain, &mut rng);
    assert_eq!(m.positions.len(), n);
    let whole = m.positions.iter().all(|&p| {
        let start = 1 + (p - 1) / 3 * 3;
        (start..start + 3).all(|q| m.positions.contains(&q))
    });
    assert!(!whole);
}

#[test]
fn whole_word_masking_does_not_join_across_sep() {
    // [CLS] w ##p [SEP] ##p w [SEP]: the piece after [SEP] (B cut at the front) is a word of its own.
    let vocab = vocab(1000, 500);
    let ids = [CLS, 5, 500, SEP, 501, 6, SEP];
    let opts = PretrainingOptions {
        whole_word_masking: true,
        masked_lm_prob: 0.3, // round(7 · 0.3) = 2
        ..PretrainingOptions::default()
    };
    let mut rng = Rng::new(11);
    let mut alone = false;
    for _ in 0..200 {
        let m = create_masked_lm_predictions(&ids, &vocab, &opts, &mut rng);
        if m.positions.contains(&1) {
            assert!(m.positions.contains(&2));
        }
        alone |= m.positions.contains(&4) && !m.positions.contains(&2);
    }
    assert!(alone);
}

#[test]
fn mask_dynamically_draws_new_masks_on_the_same_tokens() {
    let c = corpus(4, 40, 12, 5);
    let opts = PretrainingOptions::default();
    let mut rng = Rng::new(9);
    let instances = create_training_instances(&c.docs, &c.vocab, &opts, &mut rng).unwrap();
    let mut changed = 0;
    for inst in &instances {
        let mut again = inst.clone();
        mask_dynamically(&mut again, &c.vocab, &opts, &mut rng);
        assert_eq!(again.unmasked_ids(), inst.unmasked_ids());
        assert_eq!(again.type_ids, inst.type_ids);
        assert_eq!(again.is_random_next, inst.is_random_next);
        assert_eq!(again.masked_positions.len(), num_to_predict(inst.len(), &opts));
        changed += (again.masked_positions != inst.masked_positions) as usize;
    }
    assert!(
        changed * 2 > instances.len(),
        "{changed} of {} changed",
        instances.len()
    );
}

#[test]
fn instances_are_cls_a_sep_b_sep_with_true_or_random_next() {
    let c = corpus(10, 300, 20, 1);
    let opts = PretrainingOptions {
        dupe_factor: 5,
        ..PretrainingOptions::default()
    };
    let instances = c.instances(&opts, 42);
    assert!(instances.len() > 1500, "{} instances", instances.len());
    let mut random = 0;
    for inst in &instances {
        let (a, b) = split(inst, 128);
        // A is consecutive sentences of one document, cut at its ends at most; so is B.
        assert!(contiguous(&a) && contiguous(&b));
        let (doc_a, doc_b) = (c.doc_of[a[0] as usize], c.doc_of[b[0] as usize]);
        if inst.is_random_next {
            random += 1;
            assert_ne!(doc_a, doc_b, "random next from the same document");
        } else {
            assert_eq!(doc_a, doc_b);
            assert!(b[0] > *a.last().unwrap(), "B before A");
            // Untruncated pairs (under max_num_tokens) are adjacent.
            if a.len() + b.len() < 125 {
                assert_eq!(b[0], a.last().unwrap() + 1);
            }
        }
    }
    let share = random as f64 / instances.len() as f64;
    assert!((share - 0.5).abs() < 0.05, "random-next share {share}");
    // Masks: num_to_predict each.
    assert!(instances
        .iter()
        .all(|i| i.masked_positions.len() == num_to_predict(i.len(), &opts)));
}

#[test]
fn a_chunk_of_one_sentence_always_gets_a_random_b() {
    // Every sentence (40 tokens) reaches the target (29) alone: every chunk has one sentence.
    let docs: Vec<Document> = (0..5u32)
        .map(|d| {
            (0..20u32)
                .map(|s| (0..40).map(|t| 5 + d * 1000 + s * 40 + t).collect())
                .collect()
        })
        .collect();
    let vocab = vocab(6000, u32::MAX);
    let opts = PretrainingOptions {
        max_seq_length: 32,
        short_seq_prob: 0.0,
        ..PretrainingOptions::default()
    };
    let instances = create_training_instances(&docs, &vocab, &opts, &mut Rng::new(5)).unwrap();
    // No sentence is put back for a one-sentence chunk, so one instance per sentence.
    assert_eq!(instances.len(), 100);
    for inst in &instances {
        assert!(inst.is_random_next);
        let (a, b) = split(inst, 32);
        assert_ne!((a[0] - 5) / 1000, (b[0] - 5) / 1000);
    }
}

#[test]
fn truncation_keeps_every_instance_within_max_seq_length() {
    for max_seq_length in [5, 8, 16, 64, 128] {
        let c = corpus(6, 30, 200, max_seq_length as u64);
        let opts = PretrainingOptions {
            max_seq_length,
            ..PretrainingOptions::default()
        };
        let instances = c.instances(&opts, 1);
        for inst in &instances {
            let (a, b) = split(inst, max_seq_length);
            assert!(contiguous(&a) && contiguous(&b));
        }
    }
}

#[test]
fn truncate_seq_pair_cuts_the_longer_side_from_either_end() {
    let mut rng = Rng::new(4);
    let mut front = 0;
    for _ in 0..200 {
        let (mut a, mut b): (Vec<u32>, Vec<u32>) = ((0..10).collect(), (100..103).collect());
        truncate_seq_pair(&mut a, &mut b, 8, &mut rng);
        assert_eq!((a.len(), b.len()), (5, 3));
        assert!(contiguous(&a) && a[0] <= 5);
        front += a[0] as usize; // cuts from the front, of 5
                                // A tie cuts B.
        let (mut a, mut b): (Vec<u32>, Vec<u32>) = ((0..4).collect(), (100..104).collect());
        truncate_seq_pair(&mut a, &mut b, 7, &mut rng);
        assert_eq!((a.len(), b.len()), (4, 3));
    }
    assert!((400..600).contains(&front), "cut from the front {front} of 1000");
}

#[test]
fn a_corpus_of_one_document_works_as_in_the_original() {
    // After 10 draws of the same document, B is a span of that document, labelled random next.
    let c = corpus(1, 50, 15, 8);
    let instances = c.instances(&PretrainingOptions::default(), 2);
    assert!(!instances.is_empty());
    for inst in &instances {
        split(inst, 128);
    }
    assert!(instances.iter().any(|i| i.is_random_next) && instances.iter().any(|i| !i.is_random_next));
    // Two sentences are enough.
    let docs = vec![vec![vec![5, 6], vec![7]]];
    let instances =
        create_training_instances(&docs, &c.vocab, &PretrainingOptions::default(), &mut Rng::new(2)).unwrap();
    assert!(!instances.is_empty());
}

#[test]
fn instances_are_deterministic_from_the_seed() {
    let c = corpus(5, 60, 20, 3);
    let opts = PretrainingOptions::default();
    let run = |seed| c.instances(&opts, seed);
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn errors_for_an_empty_corpus_and_a_single_sentence() {
    let vocab = vocab(100, u32::MAX);
    let opts = PretrainingOptions::default();
    let err = |docs: &[Document]| {
        create_training_instances(docs, &vocab, &opts, &mut Rng::new(1))
            .unwrap_err()
            .message
    };
    assert!(err(&[]).contains("empty"), "{}", err(&[]));
    assert!(err(&[vec![], vec![vec![]]]).contains("empty"));
    assert!(err(&[vec![vec![5, 6, 7]]]).contains("single sentence"));
    assert!(err(&[vec![vec![5, 6, 7]], vec![vec![]]]).contains("single sentence"));

    let mut stream = InstanceStream::new(vocab.clone(), StreamOptions::default()).unwrap();
    assert!(stream.finish_epoch().unwrap_err().message.contains("empty"));
    let mut stream = InstanceStream::new(vocab.clone(), StreamOptions::default()).unwrap();
    stream.push_document(vec![vec![5, 6]]).unwrap();
    assert!(stream.finish_epoch().unwrap_err().message.contains("single sentence"));

    let bad = PretrainingOptions {
        max_seq_length: 4,
        ..PretrainingOptions::default()
    };
    assert!(create_training_instances(&[vec![vec![5], vec![6]]], &vocab, &bad, &mut Rng::new(1)).is_err());
}

/// A vocab.txt (line number = id).
const VOCAB: &str =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\ndog\nran\nfar\na\nbig\nred\ncafe\n.\n,\nis\n##s\n";
const WORDS: [&str; 16] = [
    "the", "cat", "sat", "on", "mat", "dog", "ran", "far", "a", "big", "red", "café", "is", "cats", "zebra", ",",
];

fn tokenizer(vocab_txt: &str) -> bert_wgpu::Result<BertTokenizer> {
    BertTokenizer::from_files(None, Some(vocab_txt.as_bytes()), None)
}

/// Corpus text with the awkward parts: CRLF, trailing spaces, whitespace-only and repeated blank lines, a
/// line that tokenises to nothing, non-ASCII.
fn corpus_text(docs: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut text = String::new();
    for d in 0..docs {
        for s in 0..3 + rng.below(30) {
            let words: Vec<&str> = (0..1 + rng.below(15)).map(|_| WORDS[rng.below(WORDS.len())]).collect();
            text.push_str(&words.join(" "));
            text.push_str([".\n", " .\r\n", ".  \n"][(d + s) % 3]);
            if s == 1 && d % 4 == 0 {
                text.push_str("\u{7}\n"); // only a control character
            }
        }
        text.push_str(["\n", "  \n", "\r\n\n\n"][d % 3]);
    }
    text
}

fn read_in_chunks(tk: &BertTokenizer, text: &str, chunk_chars: usize) -> (Vec<Document>, u64) {
    let mut reader = DocumentReader::new(tk);
    let chars: Vec<char> = text.chars().collect();
    let mut docs = Vec::new();
    for piece in chars.chunks(chunk_chars) {
        reader.push_text(&piece.iter().collect::<String>()).unwrap();
        docs.extend(std::iter::from_fn(|| reader.next_document()));
    }
    reader.finish().unwrap();
    docs.extend(std::iter::from_fn(|| reader.next_document()));
    (docs, reader.stats().skipped_lines)
}

#[test]
fn document_reader_gives_the_same_documents_for_any_chunking() {
    let tk = tokenizer(VOCAB).unwrap();
    let text = corpus_text(12, 1);
    let whole = read_documents(&tk, &text).unwrap();
    assert_eq!(whole.len(), 12);
    assert!(whole.iter().all(|d| d.len() >= 3 && d.iter().all(|s| !s.is_empty())));
    // Sentences carry no special tokens; "café" is lower-cased and stripped to "cafe".
    assert!(whole.iter().flatten().flatten().all(|&t| t != CLS && t != SEP));
    assert!(whole.iter().flatten().flatten().any(|&t| t == 16));
    for chunk in [1, 2, 7, 64, 1000] {
        let (docs, skipped) = read_in_chunks(&tk, &text, chunk);
        assert_eq!(docs, whole, "chunks of {chunk} characters");
        assert_eq!(skipped, 3, "the control-character lines");
    }
    // And so the same instances.
    let vocab = MaskingVocab::from_tokenizer(&tk).unwrap();
    let opts = PretrainingOptions::default();
    let (docs, _) = read_in_chunks(&tk, &text, 5);
    assert_eq!(
        create_training_instances(&whole, &vocab, &opts, &mut Rng::new(1)).unwrap(),
        create_training_instances(&docs, &vocab, &opts, &mut Rng::new(1)).unwrap()
    );
}

#[test]
fn document_reader_splits_documents_over_the_token_limit() {
    let tk = tokenizer(VOCAB).unwrap();
    let text = "the cat sat\non the mat\nthe dog ran\nfar\n\nbig red\n";
    let mut reader = DocumentReader::new(&tk).max_document_tokens(6);
    reader.push_text(text).unwrap();
    reader.finish().unwrap();
    let docs: Vec<Document> = std::iter::from_fn(|| reader.next_document()).collect();
    assert_eq!(
        docs,
        vec![
            vec![vec![5, 6, 7], vec![8, 5, 9]],
            vec![vec![5, 10, 11], vec![12]],
            vec![vec![14, 15]]
        ]
    );
    assert_eq!(reader.stats().split_documents, 1);
    assert_eq!(reader.stats().sentences, 5);
    assert!(read_documents(&tk, "\n \n\r\n\n").unwrap().is_empty());
}

#[test]
fn lossy_utf8_keeps_split_characters_and_counts_bad_bytes() {
    let mut bytes = "héllo wörld 한국어 ".as_bytes().to_vec();
    bytes.extend([0xFF, b'a', 0xE2, 0x82, b'b', 0xC3]);
    bytes.extend("é 끝".as_bytes());
    bytes.extend([0xE2, 0x82]); // cut off at the end
    let want = String::from_utf8_lossy(&bytes).to_string();
    for chunk in 1..8 {
        let mut d = LossyUtf8::new();
        let mut got: String = bytes.chunks(chunk).map(|c| d.decode(c)).collect();
        got.push_str(&d.finish());
        assert_eq!(got, want, "chunks of {chunk} bytes");
        assert_eq!(d.replacements() as usize, want.matches('\u{FFFD}').count());
    }
}

#[test]
fn vocabularies_without_mask_cls_or_sep_are_refused() {
    let no_mask = VOCAB.replace("[MASK]\n", "");
    let tk = tokenizer(&no_mask).unwrap();
    let e = MaskingVocab::from_tokenizer(&tk).unwrap_err().message;
    assert!(e.contains("[MASK]"), "{e}");
    for special in ["[CLS]", "[SEP]"] {
        let e = tokenizer(&VOCAB.replace(&format!("{special}\n"), ""))
            .err()
            .unwrap()
            .message;
        assert!(e.contains(special), "{e}");
    }
    let v = MaskingVocab::from_tokenizer(&tokenizer(VOCAB).unwrap()).unwrap();
    assert_eq!((v.cls, v.sep, v.pad, v.mask, v.vocab_size), (2, 3, 0, 4, 21));
    assert!(v.is_subword(20) && !v.is_subword(19));
}

#[test]
fn batches_pad_to_a_multiple_of_4_with_flat_mlm_rows() {
    let c = corpus(4, 30, 10, 6);
    let opts = PretrainingOptions {
        max_seq_length: 30,
        ..PretrainingOptions::default()
    };
    let instances = c.instances(&opts, 3);
    let chunk = &instances[..5];
    let pb = batch_instances(chunk, PAD);
    let longest = chunk.iter().map(Instance::len).max().unwrap();
    assert_eq!(pb.batch.seq, longest.next_multiple_of(4));
    assert_eq!(pb.batch.batch, 5);
    let seq = pb.batch.seq;
    let mut row = 0;
    for (b, inst) in chunk.iter().enumerate() {
        assert_eq!(pb.batch.lengths[b], inst.len());
        assert_eq!(&pb.batch.ids[b * seq..b * seq + inst.len()], &inst.ids[..]);
        assert_eq!(&pb.batch.types[b * seq..b * seq + inst.len()], &inst.type_ids[..]);
        assert!(pb.batch.ids[b * seq + inst.len()..(b + 1) * seq]
            .iter()
            .all(|&t| t == PAD));
        assert!(pb.batch.mask[b * seq..(b + 1) * seq]
            .iter()
            .enumerate()
            .all(|(s, &m)| m == (s < inst.len()) as u8 as f32));
        assert_eq!(pb.nsp_labels[b], inst.is_random_next as u32);
        for (k, &p) in inst.masked_positions.iter().enumerate() {
            assert_eq!(pb.mlm_rows[row], (b * seq + p) as u32);
            assert_eq!(pb.mlm_labels[row], inst.masked_labels[k]);
            assert_eq!(pb.mask_kinds[row], inst.mask_kinds[k]);
            row += 1;
        }
    }
    assert_eq!(row, pb.mlm_rows.len());
    let fixed = batch_instances_padded(chunk, PAD, 32).unwrap();
    assert_eq!(fixed.batch.seq, 32);
    assert_eq!(fixed.mlm_labels, pb.mlm_labels);
    assert!(batch_instances_padded(chunk, PAD, 30).is_err());
    assert!(batch_instances_padded(chunk, PAD, longest.next_multiple_of(4) - 4).is_err());
}

/// Runs a stream over `docs` for epochs up to `epochs`, from wherever it stands: (the state before each
/// instance, the instance), and (instances so far, state) after every push.
struct Run {
    out: Vec<(StreamState, Instance)>,
    checkpoints: Vec<(usize, StreamState)>,
}

fn run_stream(stream: &mut InstanceStream, docs: &[Document], epochs: u64, take_at: usize) -> Run {
    let mut run = Run {
        out: Vec::new(),
        checkpoints: Vec::new(),
    };
    // Take instances only when `take_at` are ready (a trainer waiting for a batch), or all at the end.
    let take = |stream: &mut InstanceStream, run: &mut Run, all: bool| {
        while all || stream.ready_len() >= take_at {
            let state = stream.state();
            match stream.next_instance() {
                Some(inst) => run.out.push((state, inst)),
                None => break,
            }
        }
    };
    loop {
        for d in docs {
            stream.push_document(d.clone()).unwrap();
            take(stream, &mut run, false);
            run.checkpoints.push((run.out.len(), stream.state()));
        }
        stream.finish_epoch().unwrap();
        take(stream, &mut run, true);
        run.checkpoints.push((run.out.len(), stream.state()));
        if stream.epoch() + 1 >= epochs {
            return run;
        }
        stream.next_epoch().unwrap();
    }
}

fn stream_options() -> StreamOptions {
    StreamOptions {
        seed: 77,
        shard_documents: 3,
        shard_tokens: 1500,
        ..StreamOptions::default()
    }
}

#[test]
fn the_stream_is_deterministic_and_new_each_epoch() {
    // 13 documents in shards of at most 3 documents or 1500 tokens; the last shard has one document.
    let c = corpus(13, 25, 20, 4);
    let mut s = InstanceStream::new(c.vocab.clone(), stream_options()).unwrap();
    let eager = run_stream(&mut s, &c.docs, 2, 1);
    let mut s = InstanceStream::new(c.vocab.clone(), stream_options()).unwrap();
    let lazy = run_stream(&mut s, &c.docs, 2, 16);
    assert_eq!(
        eager.out, lazy.out,
        "the instances and states do not depend on when they are taken"
    );
    let (epoch0, epoch1): (Vec<_>, Vec<_>) = eager.out.iter().partition(|(s, _)| s.epoch == 0);
    assert!(!epoch0.is_empty() && !epoch1.is_empty());
    let ids = |v: &[&(StreamState, Instance)]| v.iter().map(|(_, i)| i.ids.clone()).collect::<Vec<_>>();
    assert_ne!(ids(&epoch0), ids(&epoch1), "epoch 1 repeats epoch 0");
    for (_, inst) in &eager.out {
        let (a, b) = split(inst, 128);
        if inst.is_random_next {
            assert_ne!(c.doc_of[a[0] as usize], c.doc_of[b[0] as usize]);
        }
    }
    // The last shard is one document: its random B comes from the shard before.
    let last_shard = eager.out.iter().map(|(s, _)| s.shard).max().unwrap();
    assert!(eager.out.iter().any(|(s, i)| s.shard == last_shard && i.is_random_next));
    // Every document of the epoch is used.
    let docs_used: std::collections::HashSet<usize> = epoch0
        .iter()
        .map(|(_, i)| c.doc_of[split(i, 128).0[0] as usize])
        .collect();
    assert_eq!(docs_used.len(), 13);
    let seed = StreamOptions {
        seed: 78,
        ..stream_options()
    };
    let mut s = InstanceStream::new(c.vocab.clone(), seed).unwrap();
    assert_ne!(run_stream(&mut s, &c.docs, 2, 1).out, eager.out);
}

#[test]
fn resuming_from_a_saved_state_equals_the_uninterrupted_stream() {
    let c = corpus(13, 25, 20, 4);
    let mut s = InstanceStream::new(c.vocab.clone(), stream_options()).unwrap();
    let full = run_stream(&mut s, &c.docs, 2, 1);
    let n = full.out.len();
    // From the state before instance k: the first, mid-shard, shard starts, epoch boundaries, the last.
    let mut starts: Vec<usize> = vec![0, 1, 5, n / 3, n / 2, n - 1];
    starts.extend((1..n).filter(|&k| full.out[k].0.instance == 0).take(4));
    starts.extend((1..n).filter(|&k| full.out[k].0.epoch != full.out[k - 1].0.epoch));
    for k in starts {
        let state = full.out[k].0.clone();
        // Through JSON, as a checkpoint keeps it.
        let state: StreamState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        let mut s = InstanceStream::resume(c.vocab.clone(), state).unwrap();
        let rest = run_stream(&mut s, &c.docs, 2, 1);
        assert_eq!(rest.out, full.out[k..], "resumed before instance {k}");
    }
    // From states taken between pushes, when nothing was ready or a shard was part-way taken.
    let mut s = InstanceStream::new(c.vocab.clone(), stream_options()).unwrap();
    let lazy = run_stream(&mut s, &c.docs, 2, 16);
    assert_eq!(lazy.out, full.out);
    for (count, state) in full.checkpoints.iter().chain(&lazy.checkpoints).step_by(3) {
        if state.epoch >= 2 {
            continue;
        }
        let mut s = InstanceStream::resume(c.vocab.clone(), state.clone()).unwrap();
        let rest = run_stream(&mut s, &c.docs, 2, 1);
        let got: Vec<&Instance> = rest.out.iter().map(|(_, i)| i).collect();
        let want: Vec<&Instance> = full.out[*count..].iter().map(|(_, i)| i).collect();
        assert_eq!(got, want, "resumed at checkpoint after {count} instances");
    }
}

#[test]
fn resuming_on_another_corpus_is_an_error() {
    let c = corpus(13, 25, 20, 4);
    let mut s = InstanceStream::new(c.vocab.clone(), stream_options()).unwrap();
    let full = run_stream(&mut s, &c.docs, 1, 1);
    let state = full.out.iter().rev().find(|(s, _)| s.shard == 3).unwrap().0.clone();
    // Fewer documents: the saved shard starts elsewhere, or never comes.
    let mut s = InstanceStream::resume(c.vocab.clone(), state.clone()).unwrap();
    let mut result = Ok(());
    for d in c.docs.iter().skip(1) {
        result = result.and(s.push_document(d.clone()));
    }
    let e = result.and(s.finish_epoch()).unwrap_err().message;
    assert!(e.contains("resume"), "{e}");
    let mut s = InstanceStream::resume(c.vocab.clone(), state).unwrap();
    for d in &c.docs[..5] {
        s.push_document(d.clone()).unwrap();
    }
    assert!(s.finish_epoch().unwrap_err().message.contains("corpus ended"));
}
