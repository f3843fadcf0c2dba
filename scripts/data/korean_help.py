#!/usr/bin/env python3
"""Builds data/ko/libreoffice-help.txt from the Korean LibreOffice help that Debian ships (libreoffice-help-ko).

Input: the package unpacked by `dpkg-deb -x` (the folder holding usr/share/libreoffice/help/ko/text), or that
text folder itself. Standard library only.

Preprocessing (documented in data/README.md):
  1. Documents: every .html file under help/ko/text, in sorted path order, one document each.
  2. A document's paragraphs are the contents of its <p>, <h1>-<h6>, <td> and <li> elements (<script> and
     <style> removed), in document order; tags inside are dropped, entities decoded, white space runs
     collapsed to one space and the ends stripped.
  3. A paragraph is kept when it holds a Hangul syllable (U+AC00-U+D7A3), is at least 10 characters long, is
     not a page's hidden "Title is: ..." line and has not been kept before in any earlier document (the help
     repeats its notes and labels on many pages).
  4. Kept paragraphs are split into sentences as scripts/data/korean.py does (after ".", "!", "?" or "다"
     followed by white space).
  5. A document with fewer than two sentences is dropped. Output: one sentence per line, an empty line after
     every document (the file ends with "\\n\\n").

Usage: python3 scripts/data/korean_help.py SOURCE [--out data/ko/libreoffice-help.txt]
"""
import argparse
import html
import os
import re

from korean import SENTENCE_SPLIT_RE, write_corpus

TEXT_DIR = os.path.join("usr", "share", "libreoffice", "help", "ko", "text")
SCRIPT_RE = re.compile(r"(?is)<(script|style)\b[^>]*>.*?</\1\s*>")
PARAGRAPH_RE = re.compile(r"(?is)<(p|h[1-6]|td|li)\b[^>]*>(.*?)</\1\s*>")
TAG_RE = re.compile(r"<[^>]+>")
SPACE_RE = re.compile(r"\s+")
HANGUL_RE = re.compile("[\uac00-\ud7a3]")


def html_files(source):
    root = source if os.path.isdir(os.path.join(source, "shared")) else os.path.join(source, TEXT_DIR)
    if not os.path.isdir(root):
        raise SystemExit("%s: no %s folder (unpack libreoffice-help-ko with dpkg-deb -x)" % (source, TEXT_DIR))
    paths = []
    for folder, _, names in os.walk(root):
        paths += [os.path.join(folder, n) for n in names if n.endswith(".html")]
    return sorted(paths, key=lambda p: os.path.relpath(p, root))


def paragraphs(page):
    page = SCRIPT_RE.sub("", page)
    for match in PARAGRAPH_RE.finditer(page):
        text = SPACE_RE.sub(" ", html.unescape(TAG_RE.sub(" ", match.group(2)))).strip()
        if text:
            yield text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="libreoffice-help-ko unpacked by dpkg-deb -x, or its help/ko/text folder")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    parser.add_argument("--out", default=os.path.join(root, "data", "ko", "libreoffice-help.txt"))
    args = parser.parse_args()
    seen = set()
    documents = []
    for path in html_files(args.source):
        with open(path, encoding="utf-8") as f:
            page = f.read()
        sentences = []
        for text in paragraphs(page):
            if len(text) < 10 or not HANGUL_RE.search(text) or text.startswith("Title is:") or text in seen:
                continue
            seen.add(text)
            sentences += [s for s in SENTENCE_SPLIT_RE.split(text) if s]
        if len(sentences) >= 2:
            documents.append(sentences)
    write_corpus(args.out, documents)

if __name__ == "__main__":
    main()
