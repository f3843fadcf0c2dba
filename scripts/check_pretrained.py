#!/usr/bin/env python3
"""Loads a model directory written by `bert-wgpu pretrain` in transformers (BertForPreTraining, float32) and
records transformers' fill-mask top-5 for a few texts into DIR/transformers-fill-mask.json, which
tests/pipelines.rs compares with bert-wgpu's own output. Run by developers (needs torch + transformers).

    python3 scripts/check_pretrained.py pretrained/austen-bert-tiny
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoTokenizer, BertForPreTraining, pipeline  # noqa: E402

TEXTS = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a [MASK].",
    "Mr. Darcy was the [MASK] of Pemberley.",
    "She was the youngest of the two [MASK] of a most affectionate, indulgent father.",
]


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "pretrained/austen-bert-tiny"
    model = BertForPreTraining.from_pretrained(directory, dtype=torch.float32)
    missing = [k for k, v in model.state_dict().items() if not torch.isfinite(v).all()]
    assert not missing, f"non-finite parameters: {missing}"
    tokenizer = AutoTokenizer.from_pretrained(directory)
    fill = pipeline("fill-mask", model=directory, tokenizer=tokenizer, top_k=5, dtype=torch.float32)
    out = {text: fill(text) for text in TEXTS}
    for text, preds in out.items():
        print(text)
        for p in preds:
            print(f"  {p['score']:.4f}  {p['token_str']}")
    with open(os.path.join(directory, "transformers-fill-mask.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
