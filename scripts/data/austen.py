#!/usr/bin/env python3
"""Builds data/austen/austen.txt and data/austen/heldout.txt from the janeaustenr R package's data.

Input: the package's lazy-load database (Rdata.rdx + Rdata.rdb, found in
/usr/lib/R/site-library/janeaustenr/data/ of the Debian package r-cran-janeaustenr 1.0.0-1). Each of the six
objects is a character vector, one element per line of the Project Gutenberg text, paragraphs separated by
empty elements. Standard library only.

Preprocessing (documented in data/README.md):
  1. Novels in the order of their object names, sorted: emma, mansfieldpark, northangerabbey, persuasion,
     prideprejudice, sensesensibility.
  2. Each novel is cut at its chapter headings (a line that is only "CHAPTER I", "Chapter 1", ...: the
     regex CHAPTER_RE below, case-insensitive); the heading line itself is dropped. The text before a novel's
     first heading (title, author, date, Northanger Abbey's advertisement) is a block of its own; anything
     between the last line of a chapter and the next heading ("VOLUME II", "FINIS", "THE END", Northanger
     Abbey's closing "A NOTE ON THE TEXT") stays with that chapter.
  3. Within a block, paragraphs are runs of non-empty lines; each line is stripped of leading and trailing
     white space and the lines of a paragraph are joined with one space (white space inside a line is kept).
  4. Each paragraph is split into sentences by SENTENCE_SPLIT_RE: after ".", "!" or "?", optionally
     followed by closing '"', "'", ")" or "_" characters, then white space, when the next word starts
     with a capital letter (optionally after one of '"', "'", "(" or "_"); never after "Mr.", "Mrs.", "Dr."
     or "St." standing as a word. The closing characters and the white space at a split are dropped.
  5. Output: one sentence per line, an empty line after every block (so the file ends with "\n\n").
  6. The first TRAIN_BLOCKS (250) blocks go to austen.txt, the rest (the last chapters of Sense and
     Sensibility) to heldout.txt, so held-out text is whole chapters the shipped model never trained on.

Usage: python3 scripts/data/austen.py RDATA_DIR [--out data/austen]
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rdata  # noqa: E402

NOVELS = ["emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility"]
TITLES = {
    "emma": "Emma",
    "mansfieldpark": "Mansfield Park",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
    "prideprejudice": "Pride and Prejudice",
    "sensesensibility": "Sense and Sensibility",
}
TRAIN_BLOCKS = 250
CHAPTER_RE = re.compile(r"^\s*chapter\s+\w+\s*$", re.IGNORECASE)
SENTENCE_SPLIT_RE = re.compile(
    r"(?<!\bMr\.)(?<!\bMrs\.)(?<!\bDr\.)(?<!\bSt\.)"  # not after these abbreviations
    r"(?<=[.!?])"  # after sentence-final punctuation
    r"[\"')_]*\s+"  # closing quotes, brackets or italics marks, then white space: dropped
    r"(?=[\"'(_]?[A-Z])"  # before a capitalised word
)


def blocks_of(lines):
    """[(chapter number or 0 for the front matter, [paragraph, ...]), ...] of one novel."""
    blocks = [(0, [])]
    current = []
    for line in list(lines) + [""]:
        if line is None:
            line = ""
        if CHAPTER_RE.match(line):
            if current:
                blocks[-1][1].append(" ".join(current))
                current = []
            blocks.append((len(blocks), []))
        elif line.strip():
            current.append(line.strip())
        elif current:
            blocks[-1][1].append(" ".join(current))
            current = []
    return blocks


def sentences(paragraph):
    return [s for s in SENTENCE_SPLIT_RE.split(paragraph) if s]


def build(rdata_dir):
    """[(novel, chapter number (0 = front matter), [sentence, ...]), ...] in corpus order."""
    index = rdata.read_rdx(os.path.join(rdata_dir, "Rdata.rdx"))
    rdb = os.path.join(rdata_dir, "Rdata.rdb")
    variables = index["variables"]
    if sorted(variables) != NOVELS:
        raise SystemExit("unexpected objects in %s: %s" % (rdata_dir, sorted(variables)))
    out = []
    for novel in NOVELS:
        lines = rdata.read_lazy_object(rdb, variables[novel], index.get("compressed", 1))
        for number, paragraphs in blocks_of(lines):
            sents = [s for p in paragraphs for s in sentences(p)]
            if sents:
                out.append((novel, number, sents))
    return out


def write(path, blocks):
    text = "".join("\n".join(sents) + "\n\n" for _, _, sents in blocks)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)
    return text


def describe(blocks):
    parts = []
    for novel in NOVELS:
        numbers = [n for b_novel, n, _ in blocks if b_novel == novel]
        if not numbers:
            continue
        chapters = [n for n in numbers if n]
        front = " + title" if 0 in numbers else ""
        rng = "chapters %d-%d" % (chapters[0], chapters[-1]) if chapters else "no chapters"
        parts.append("%s %s%s" % (TITLES[novel], rng, front))
    return "; ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rdata_dir", help="folder with Rdata.rdx and Rdata.rdb (janeaustenr's data/)")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    parser.add_argument("--out", default=os.path.join(root, "data", "austen"))
    args = parser.parse_args()
    blocks = build(args.rdata_dir)
    os.makedirs(args.out, exist_ok=True)
    train, heldout = blocks[:TRAIN_BLOCKS], blocks[TRAIN_BLOCKS:]
    for name, part in (("austen.txt", train), ("heldout.txt", heldout)):
        text = write(os.path.join(args.out, name), part)
        print("%s: %d blocks, %d lines, %d words (%s)" % (
            name, len(part), text.count("\n"), len(text.split()), describe(part)))


if __name__ == "__main__":
    main()
