//! A fresh WordPiece vocabulary from raw text, with the `tokenizers` crate's `WordPieceTrainer` and the BERT
//! pipeline around it (BertNormalizer, BertPreTokenizer, WordPiece decoder, `[CLS] A [SEP] B [SEP]`
//! template). The special tokens come first: `[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3, `[MASK]` 4. The four
//! files it returns form the tokenizer of a Hugging Face model directory: [`BertTokenizer::from_files`]
//! and transformers' `AutoTokenizer.from_pretrained` load them.
//!
//! Text is pushed in chunks and only word counts are kept, so memory follows the number of distinct words,
//! not the corpus size.
//!
//! Accents: BERT's uncased recipe lower-cases and strips accents (Unicode NFD, then drop the combining
//! marks). NFD also takes Hangul syllables apart into jamo (and kana into base + voicing mark, which the
//! stripping then drops), so on Korean or Japanese text stripping ruins the vocabulary, as it did for
//! multilingual uncased BERT. `strip_accents: None` (the default) therefore decides from the corpus: strip
//! when lower-casing, unless more than 1% of the letters belong to scripts other than Latin, Greek, Cyrillic,
//! Armenian, Georgian and Han. The decision is written explicitly into both configuration files.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use serde_json::{json, Value};
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer,
};

use crate::error::Context;
use crate::tokenizer::load::{pipeline, Config};
use crate::tokenizer::BertTokenizer;
use crate::{bail, Result};

/// The special tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Settings of a vocabulary training run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VocabOptions {
    /// Target size, special tokens included (the alphabet alone may exceed it).
    pub vocab_size: usize,
    /// Lower-case (an uncased model).
    pub lowercase: bool,
    /// Strip accents; None decides from the corpus (see the module comment).
    pub strip_accents: Option<bool>,
    /// A merge needs a pair seen at least this often.
    pub min_frequency: u64,
    /// Keep at most this many distinct characters (the most frequent); None keeps all.
    pub limit_alphabet: Option<usize>,
}

impl Default for VocabOptions {
    fn default() -> Self {
        VocabOptions {
            vocab_size: 8000,
            lowercase: true,
            strip_accents: None,
            min_frequency: 2,
            limit_alphabet: None,
        }
    }
}

/// The tokenizer files of a model directory, and what was decided.
#[derive(Clone, Debug)]
pub struct VocabFiles {
    pub vocab_txt: String,
    pub tokenizer_json: String,
    pub tokenizer_config_json: String,
    pub special_tokens_map_json: String,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Whether accents are stripped (the resolved `strip_accents`).
    pub strip_accents: bool,
    /// Distinct words counted (after normalisation and pre-tokenisation).
    pub distinct_words: usize,
}

impl VocabFiles {
    /// (file name, contents) of the four files.
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            ("vocab.txt", &self.vocab_txt),
            ("tokenizer.json", &self.tokenizer_json),
            ("tokenizer_config.json", &self.tokenizer_config_json),
            ("special_tokens_map.json", &self.special_tokens_map_json),
        ]
    }

    /// Loads the result as a [`BertTokenizer`].
    pub fn tokenizer(&self) -> Result<BertTokenizer> {
        BertTokenizer::from_files(
            Some(self.tokenizer_json.as_bytes()),
            Some(self.vocab_txt.as_bytes()),
            Some(self.tokenizer_config_json.as_bytes()),
        )
    }
}

/// Trains a vocabulary from text pushed in chunks of any size (the same text gives the same vocabulary
/// however it is chunked).
pub struct WordPieceBuilder {
    options: VocabOptions,
    /// Cleans, splits CJK ideographs, lower-cases; accents are stripped (or not) at the end.
    normalizer: BertNormalizer,
    /// Text after the last whitespace pushed so far: words never span whitespace.
    pending: String,
    counts: HashMap<String, u64>,
    letters: u64,
    /// Letters of scripts that accent stripping breaks.
    fragile_letters: u64,
}

impl WordPieceBuilder {
    pub fn new(options: VocabOptions) -> Result<WordPieceBuilder> {
        if options.vocab_size <= SPECIAL_TOKENS.len() {
            bail!(
                "vocabulary size {} leaves no room beside the 5 special tokens",
                options.vocab_size
            );
        }
        Ok(WordPieceBuilder {
            normalizer: BertNormalizer::new(true, true, Some(false), options.lowercase),
            options,
            pending: String::new(),
            counts: HashMap::new(),
            letters: 0,
            fragile_letters: 0,
        })
    }

    pub fn push_text(&mut self, text: &str) -> Result<()> {
        self.pending.push_str(text);
        if let Some((cut, c)) = self.pending.char_indices().rev().find(|(_, c)| c.is_whitespace()) {
            let rest = self.pending.split_off(cut + c.len_utf8());
            let done = std::mem::replace(&mut self.pending, rest);
            self.count(&done)?;
        }
        Ok(())
    }

    /// Trains on the counted words and builds the files.
    pub fn finish(mut self) -> Result<VocabFiles> {
        let rest = std::mem::take(&mut self.pending);
        self.count(&rest)?;
        if self.counts.is_empty() {
            bail!("the text has no words to train a vocabulary on");
        }
        let strip = self
            .options
            .strip_accents
            .unwrap_or(self.options.lowercase && self.fragile_letters * 100 <= self.letters);
        let counts = if strip {
            strip_accents(&self.counts)?
        } else {
            std::mem::take(&mut self.counts)
        };
        let tokens = train_pieces(&counts, &self.options);
        let tokenizer = bert_tokenizer(&tokens, self.options.lowercase, strip)?;
        files(&tokenizer, &self.options, strip, counts.len())
    }

    /// Counts the words of a text that ends at a word boundary.
    fn count(&mut self, text: &str) -> Result<()> {
        for c in text.chars().filter(|c| c.is_alphabetic()) {
            self.letters += 1;
            self.fragile_letters += !survives_stripping(c) as u64;
        }
        let mut normalized = NormalizedString::from(text);
        self.normalizer.normalize(&mut normalized).context("normalizer")?;
        let mut words = PreTokenizedString::from(normalized);
        BertPreTokenizer.pre_tokenize(&mut words).context("pre-tokenizer")?;
        for (word, _, _) in words.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            match self.counts.get_mut(word) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(word.to_string(), 1);
                }
            }
        }
        Ok(())
    }
}

/// Trains on texts held in memory or read lazily (each item any chunk of the corpus).
pub fn train_wordpiece<I, S>(texts: I, options: &VocabOptions) -> Result<VocabFiles>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut builder = WordPieceBuilder::new(options.clone())?;
    for text in texts {
        builder.push_text(text.as_ref())?;
    }
    builder.finish()
}

/// Latin, Greek, Cyrillic, Armenian, Georgian (where stripping removes diacritics only) and Han (which it
/// leaves alone).
fn survives_stripping(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x024F | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F | 0xA720..=0xA7FF | 0xAB30..=0xAB6F | 0xFF00..=0xFF5E
        | 0x0370..=0x03FF | 0x1F00..=0x1FFF
        | 0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F
        | 0x0530..=0x058F | 0x10A0..=0x10FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

/// Word counts with accents stripped, as BertNormalizer strips them (and re-split, in case stripping
/// uncovered punctuation).
fn strip_accents(counts: &HashMap<String, u64>) -> Result<HashMap<String, u64>> {
    let stripper = BertNormalizer::new(false, false, Some(true), false);
    let mut out: HashMap<String, u64> = HashMap::with_capacity(counts.len());
    for (word, &n) in counts {
        let mut normalized = NormalizedString::from(word.as_str());
        stripper.normalize(&mut normalized).context("normalizer")?;
        let mut words = PreTokenizedString::from(normalized);
        BertPreTokenizer.pre_tokenize(&mut words).context("pre-tokenizer")?;
        for (piece, _, _) in words.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            *out.entry(piece.to_string()).or_default() += n;
        }
    }
    Ok(out)
}

/// WordPiece training as the `tokenizers` crate's `BpeTrainer` (behind its `WordPieceTrainer`) does it,
/// made deterministic: the special tokens, then the alphabet (characters by code point; with
/// `limit_alphabet` the most frequent, ties by code point), then the `##` forms of characters inside words,
/// then merges of the most frequent adjacent pair (ties: the pair of lower ids) until the vocabulary is
/// full or no pair is seen `min_frequency` times. The crate's trainer visits words in hash-map order, so
/// its ids and tie-breaks, and hence the vocabulary, change from run to run; here words go in sorted order.
fn train_pieces(counts: &HashMap<String, u64>, options: &VocabOptions) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut add = |token: String, tokens: &mut Vec<String>| -> u32 {
        *ids.entry(token).or_insert_with_key(|t| {
            tokens.push(t.clone());
            tokens.len() as u32 - 1
        })
    };
    for t in SPECIAL_TOKENS {
        add(t.to_string(), &mut tokens);
    }
    let mut words: Vec<(&str, u64)> = counts.iter().map(|(w, &n)| (w.as_str(), n)).collect();
    words.sort_unstable();

    let mut chars: HashMap<char, u64> = HashMap::new();
    for &(word, n) in &words {
        for c in word.chars() {
            *chars.entry(c).or_default() += n;
        }
    }
    let mut alphabet: Vec<(char, u64)> = chars.into_iter().collect();
    if let Some(limit) = options.limit_alphabet {
        alphabet.sort_unstable_by_key(|&(c, n)| (Reverse(n), c));
        alphabet.truncate(limit);
    }
    alphabet.sort_unstable();
    for &(c, _) in &alphabet {
        add(c.to_string(), &mut tokens);
    }
    let alphabet: HashSet<char> = alphabet.into_iter().map(|(c, _)| c).collect();

    // Each word as symbols: its first character bare, the others as ## pieces; characters outside the
    // alphabet are dropped (as the crate does).
    let mut symbols: Vec<Vec<u32>> = words
        .iter()
        .map(|(word, _)| {
            (word.chars().enumerate())
                .filter(|(_, c)| alphabet.contains(c))
                .map(|(i, c)| add(if i == 0 { c.to_string() } else { format!("##{c}") }, &mut tokens))
                .collect()
        })
        .collect();

    type Pair = (u32, u32);
    let mut pair_counts: HashMap<Pair, i64> = HashMap::new();
    let mut holders: HashMap<Pair, HashSet<usize>> = HashMap::new();
    for (w, s) in symbols.iter().enumerate() {
        for p in s.windows(2) {
            *pair_counts.entry((p[0], p[1])).or_default() += words[w].1 as i64;
            holders.entry((p[0], p[1])).or_default().insert(w);
        }
    }
    // Most frequent first, then the lower pair; stale entries are skipped or re-queued when popped.
    let mut queue: BinaryHeap<(i64, Reverse<Pair>)> = pair_counts.iter().map(|(&p, &n)| (n, Reverse(p))).collect();
    while tokens.len() < options.vocab_size {
        let Some((n, Reverse(pair))) = queue.pop() else {
            break;
        };
        let current = pair_counts.get(&pair).copied().unwrap_or(0);
        if current != n {
            if current > 0 {
                queue.push((current, Reverse(pair)));
            }
            continue;
        }
        if n < 1 || (n as u64) < options.min_frequency {
            break;
        }
        let (a, b) = (&tokens[pair.0 as usize], &tokens[pair.1 as usize]);
        let merged = format!("{a}{}", b.strip_prefix("##").unwrap_or(b));
        let new = add(merged, &mut tokens);
        pair_counts.remove(&pair);
        let mut touched: HashSet<Pair> = HashSet::new();
        let merge_in = holders.remove(&pair).unwrap_or_default();
        let mut change = |p: Pair, by: i64, w: usize| {
            if p != pair {
                *pair_counts.entry(p).or_default() += by;
                if by > 0 {
                    holders.entry(p).or_default().insert(w);
                }
                touched.insert(p);
            }
        };
        for w in merge_in {
            let (s, n) = (&mut symbols[w], words[w].1 as i64);
            let mut i = 0;
            while i + 1 < s.len() {
                if (s[i], s[i + 1]) == pair {
                    if i > 0 {
                        change((s[i - 1], pair.0), -n, w);
                        change((s[i - 1], new), n, w);
                    }
                    if i + 2 < s.len() {
                        change((pair.1, s[i + 2]), -n, w);
                        change((new, s[i + 2]), n, w);
                    }
                    s[i] = new;
                    s.remove(i + 1);
                }
                i += 1;
            }
        }
        for p in touched {
            let n = pair_counts.get(&p).copied().unwrap_or(0);
            if n > 0 {
                queue.push((n, Reverse(p)));
            }
        }
    }
    tokens
}

/// The BERT pipeline around a WordPiece vocabulary (id = position in `tokens`): transformers'
/// `BertTokenizer` with these lower-casing and accent settings and the default special tokens at 0 to 4.
fn bert_tokenizer(tokens: &[String], lowercase: bool, strip: bool) -> Result<Tokenizer> {
    let mut config = Config::parse(None)?;
    (config.do_lower_case, config.strip_accents) = (lowercase, Some(strip));
    let tk = pipeline(tokens.iter().map(String::as_str), &config, "vocabulary")?;
    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        if tk.token_to_id(token) != Some(id as u32) {
            bail!(
                "vocabulary training put {token} at {:?}, not {id}",
                tk.token_to_id(token)
            );
        }
    }
    Ok(tk)
}

fn files(tk: &Tokenizer, options: &VocabOptions, strip: bool, distinct_words: usize) -> Result<VocabFiles> {
    let size = tk.get_vocab_size(false);
    let mut vocab_txt = String::new();
    for id in 0..size as u32 {
        let Some(token) = tk.id_to_token(id) else {
            bail!("vocabulary training left id {id} without a token");
        };
        vocab_txt.push_str(&token);
        vocab_txt.push('\n');
    }
    let tokenizer_json = tk.to_string(true).context("tokenizer.json")?;
    let mut config = json!({
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": options.lowercase,
        "strip_accents": strip,
        "tokenize_chinese_chars": true,
        "clean_up_tokenization_spaces": false,
        "model_max_length": 512,
    });
    let mut map = serde_json::Map::new();
    for (key, token) in [
        ("cls_token", "[CLS]"),
        ("mask_token", "[MASK]"),
        ("pad_token", "[PAD]"),
        ("sep_token", "[SEP]"),
        ("unk_token", "[UNK]"),
    ] {
        config[key] = json!(token);
        map.insert(key.to_string(), json!(token));
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).map(|s| s + "\n");
    Ok(VocabFiles {
        vocab_txt,
        tokenizer_json,
        tokenizer_config_json: pretty(&config).context("tokenizer_config.json")?,
        special_tokens_map_json: pretty(&Value::Object(map)).context("special_tokens_map.json")?,
        vocab_size: size,
        strip_accents: strip,
        distinct_words,
    })
}
