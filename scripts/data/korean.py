#!/usr/bin/env python3
"""Builds data/ko/ko.txt from the Korean corpora that ship in konlpy 0.6.0 (kobill and kolaw).

Input: the konlpy-0.6.0 wheel, or a folder holding its data/corpus/ tree (kobill/*.txt, kolaw/constitution.txt).
Standard library only.

Preprocessing (documented in data/README.md):
  1. Documents in this order: the ten bills konlpy/data/corpus/kobill/1809890.txt ... 1809899.txt (file names
     sorted), then the constitution konlpy/data/corpus/kolaw/constitution.txt; all UTF-8.
  2. A document's lines are taken as they are wrapped in the source (str.splitlines(): LF, CRLF and form feeds
     all end a line); each is stripped of leading and trailing white space and empty lines are dropped.
     Lines are never joined, so a sentence wrapped over two source lines stays on two lines.
  3. A line is split into sentences by SENTENCE_SPLIT_RE: at white space following ".", "!", "?" or the
     syllable "다" (the usual end of a Korean declarative sentence; it also splits after the particle
     "보다", as in "0보다 크면"). The white space at a split is dropped.
  4. Output: one sentence per line, an empty line after every document (the file ends with "\n\n").

Usage: python3 scripts/data/korean.py SOURCE [--out data/ko/ko.txt]
"""
import argparse
import os
import re
import zipfile

BILLS = ["kobill/18098%02d.txt" % n for n in range(90, 100)]
DOCUMENTS = BILLS + ["kolaw/constitution.txt"]
WHEEL_PREFIX = "konlpy/data/corpus/"
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?다])\s+")


def read_documents(source):
    """{relative path: text} of DOCUMENTS from the wheel or from a corpus folder."""
    out = {}
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            names = set(z.namelist())
            kobill = sorted(n[len(WHEEL_PREFIX):] for n in names
                            if n.startswith(WHEEL_PREFIX + "kobill/") and n.endswith(".txt"))
            for doc in DOCUMENTS:
                out[doc] = z.read(WHEEL_PREFIX + doc).decode("utf-8")
    else:
        for candidate in (source, os.path.join(source, "konlpy", "data", "corpus")):
            if os.path.isdir(os.path.join(candidate, "kobill")):
                source = candidate
                break
        kobill = sorted("kobill/" + n for n in os.listdir(os.path.join(source, "kobill")) if n.endswith(".txt"))
        for doc in DOCUMENTS:
            with open(os.path.join(source, doc), encoding="utf-8", newline="") as f:
                out[doc] = f.read()
    if kobill != BILLS:
        raise SystemExit("unexpected kobill files: %s" % kobill)
    return out


def sentences(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            out += [s for s in SENTENCE_SPLIT_RE.split(line) if s]
    return out


def write_corpus(path, documents):
    """Writes documents (lists of sentences) in the corpus format: one sentence per line, an empty line after
    every document; through a temporary file, so a failed run leaves no half-written corpus."""
    text = "".join("\n".join(d) + "\n\n" for d in documents)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)
    print("%s: %d documents, %d lines, %d bytes" % (os.path.basename(path), len(documents), text.count("\n"),
                                                      len(text.encode("utf-8"))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="konlpy-0.6.0-py2.py3-none-any.whl or a folder with its corpus/ tree")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    parser.add_argument("--out", default=os.path.join(root, "data", "ko", "ko.txt"))
    args = parser.parse_args()
    docs = read_documents(args.source)
    write_corpus(args.out, [sentences(docs[d]) for d in DOCUMENTS])


if __name__ == "__main__":
    main()
