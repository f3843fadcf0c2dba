#!/usr/bin/env python3
"""Yardsticks for masked-LM accuracy from counting alone, on every token of a held-out corpus.

- left: the most frequent follower (in the training corpus) of the token on the left;
- both: the token x that best fits both unmasked neighbours l and r: (c(l, x) + 0.1) (c(x, r) + 0.1) / (c(x) + 1).

Sentences are tokenized with the model directory's tokenizer (transformers), one sentence a line, with a
start and an end marker. Run by developers (needs transformers):

    python3 scripts/ngram_baseline.py pretrained/austen-bert-tiny data/austen/austen.txt data/austen/heldout.txt
"""
import collections
import sys

from transformers import AutoTokenizer


def sentences(path, tokenizer):
    with open(path, encoding="utf-8") as f:
        return [["<s>"] + tokenizer.tokenize(line) + ["</s>"] for line in f if line.strip()]


def main():
    model, train, heldout = sys.argv[1:4]
    tokenizer = AutoTokenizer.from_pretrained(model)
    unigram = collections.Counter()
    right_of = collections.defaultdict(collections.Counter)  # right_of[l][x] = c(l, x)
    left_of = collections.defaultdict(collections.Counter)  # left_of[r][x] = c(x, r)
    for s in sentences(train, tokenizer):
        unigram.update(s)
        for a, b in zip(s, s[1:]):
            right_of[a][b] += 1
            left_of[b][a] += 1
    markers = {"<s>", "</s>"}
    left_ok = both_ok = n = 0
    for s in sentences(heldout, tokenizer):
        for i in range(1, len(s) - 1):
            l, w, r = s[i - 1], s[i], s[i + 1]
            followers = [x for x, _ in right_of[l].most_common(3) if x not in markers]
            left_ok += bool(followers) and followers[0] == w
            candidates = [x for x in set(right_of[l]) | set(left_of[r]) if x not in markers]
            score = lambda x: (right_of[l][x] + 0.1) * (left_of[r][x] + 0.1) / (unigram[x] + 1)
            both_ok += bool(candidates) and max(candidates, key=score) == w
            n += 1
    print(f"{n} tokens: left neighbour {left_ok / n:.1%}, both neighbours {both_ok / n:.1%}")


if __name__ == "__main__":
    main()
