//! `bert-wgpu vocab`: trains a WordPiece vocabulary on corpus files and writes the tokenizer files of a
//! Hugging Face model directory (vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bert_wgpu::error::Context;
use bert_wgpu::train::data::LossyUtf8;
use bert_wgpu::vocab::{VocabFiles, VocabOptions, WordPieceBuilder};
use bert_wgpu::{Error, Result};

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    bert-wgpu vocab --corpus austen.txt --size 8000 --out models/austen\n  \
    bert-wgpu vocab --corpus ko.txt --size 8000 --out models/ko")]
pub struct VocabArgs {
    /// Corpus files: UTF-8 text (invalid bytes are replaced, with a warning).
    #[arg(long, num_args = 1.., required = true)]
    pub corpus: Vec<PathBuf>,
    /// Vocabulary size, the 5 special tokens included (the alphabet alone may exceed it).
    #[arg(long, default_value_t = 8000)]
    pub size: usize,
    /// Directory to write the tokenizer files into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep upper case (a cased model). By default text is lower-cased, as for an uncased BERT.
    #[arg(long)]
    pub cased: bool,
    /// Strip accents (NFD, then drop combining marks). auto: when lower-casing, unless more than 1% of the
    /// letters are in scripts that stripping breaks (Hangul syllables fall apart into jamo, kana lose
    /// their voicing marks).
    #[arg(long, value_enum, default_value_t = StripAccents::Auto)]
    pub strip_accents: StripAccents,
    /// A merge needs its pair of pieces seen at least this often.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Keep only the most frequent characters (all by default).
    #[arg(long)]
    pub limit_alphabet: Option<usize>,
    /// Write into a directory that is not empty, replacing these four files (other files stay).
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripAccents {
    Auto,
    True,
    False,
}

const CHUNK: usize = 1 << 20;

pub fn run(args: &VocabArgs) -> Result<()> {
    check_out_dir(&args.out, args.overwrite)?;
    for path in &args.corpus {
        let meta = std::fs::metadata(path).map_err(|e| Error::new(format!("corpus {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(Error::new(format!("corpus {}: not a file", path.display())));
        }
        if meta.len() == 0 {
            return Err(Error::new(format!("corpus {}: the file is empty", path.display())));
        }
    }
    let options = VocabOptions {
        vocab_size: args.size,
        lowercase: !args.cased,
        strip_accents: match args.strip_accents {
            StripAccents::Auto => None,
            StripAccents::True => Some(true),
            StripAccents::False => Some(false),
        },
        min_frequency: args.min_frequency,
        limit_alphabet: args.limit_alphabet,
    };
    let mut builder = WordPieceBuilder::new(options)?;
    let mut first_line: Option<String> = None;
    let mut bytes = 0u64;
    for path in &args.corpus {
        bytes += read_corpus(path, &mut builder, &mut first_line)?;
    }
    let files = builder.finish().context(corpus_names(&args.corpus))?;
    // Load the result back before writing anything: what is written must work.
    let tokenizer = files.tokenizer()?;
    write_files(&args.out, &files)?;

    outln!(
        "trained a WordPiece vocabulary of {} tokens on {} ({:.1} MB, {} distinct words)",
        files.vocab_size,
        corpus_names(&args.corpus),
        bytes as f64 / 1e6,
        files.distinct_words
    );
    let strip = match args.strip_accents {
        StripAccents::Auto => " (auto)",
        _ => "",
    };
    outln!(
        "lower-case: {}, strip accents: {}{strip}",
        !args.cased,
        files.strip_accents
    );
    for (name, _) in files.files() {
        outln!("wrote {}", args.out.join(name).display());
    }
    if let Some(line) = first_line {
        let encoding = tokenizer
            .inner()
            .encode(line.as_str(), false)
            .map_err(|e| Error::new(e.to_string()))?;
        let tokens = encoding.get_tokens();
        let shown: Vec<&str> = tokens.iter().take(40).map(String::as_str).collect();
        let more = if tokens.len() > shown.len() { " …" } else { "" };
        outln!("sample: {line}");
        outln!("tokens: {}{more}", shown.join(" "));
    }
    Ok(())
}

fn corpus_names(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// Refuses an existing file, or a directory that is not empty unless `overwrite`.
fn check_out_dir(out: &Path, overwrite: bool) -> Result<()> {
    match std::fs::metadata(out) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.is_dir() => Err(Error::new(format!(
            "--out {}: exists and is not a directory",
            out.display()
        ))),
        Ok(_) => {
            let mut entries =
                std::fs::read_dir(out).map_err(|e| Error::new(format!("--out {}: {e}", out.display())))?;
            if entries.next().is_some() && !overwrite {
                return Err(Error::new(format!(
                    "--out {}: the directory is not empty (pass --overwrite to replace the tokenizer files in it)",
                    out.display()
                )));
            }
            Ok(())
        }
    }
}

/// Streams one file into the builder in chunks; returns its size. Invalid UTF-8 is replaced, with a
/// warning that names the file.
fn read_corpus(path: &Path, builder: &mut WordPieceBuilder, first_line: &mut Option<String>) -> Result<u64> {
    let err = |e: &dyn std::fmt::Display| Error::new(format!("corpus {}: {e}", path.display()));
    let mut file = File::open(path).map_err(|e| err(&e))?;
    let mut decoder = LossyUtf8::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| err(&e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        let text = decoder.decode(&buf[..n]);
        if first_line.is_none() {
            *first_line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(|l| l.chars().take(200).collect());
        }
        builder.push_text(&text).map_err(|e| err(&e))?;
    }
    builder.push_text(&decoder.finish()).map_err(|e| err(&e))?;
    // Files are separate texts: a word does not continue into the next file.
    builder.push_text("\n").map_err(|e| err(&e))?;
    if decoder.replacements() > 0 {
        eprintln!(
            "warning: corpus {}: {} invalid UTF-8 sequences replaced by U+FFFD",
            path.display(),
            decoder.replacements()
        );
    }
    Ok(total)
}

/// Writes each file to a temporary name in the directory, then renames it into place.
fn write_files(out: &Path, files: &VocabFiles) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::new(format!("--out {}: {e}", out.display())))?;
    for (name, contents) in files.files() {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::new(format!("{}: {e}", path.display())));
        }
    }
    Ok(())
}
