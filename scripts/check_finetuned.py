#!/usr/bin/env python3
"""Checks that model directories written by `bert-wgpu finetune` load in transformers with the class their
config.json names, with no missing or unexpected weights, and records transformers' pipeline outputs on them
(the inputs of tests/fixtures/finetune/pipelines.json) so that a Rust test compares `bert-wgpu predict` with
them. Run by a developer, never by CI:

    python3 scripts/check_finetuned.py                      # tests/fixtures/finetune/ours/{pair,ner,qa}
    python3 scripts/check_finetuned.py --dirs pair=DIR ner=DIR qa=DIR --out results.json

The directories in tests/fixtures/finetune/ours/ were written by the commands in
tests/fixtures/finetune/README.md ("Models fine-tuned by bert-wgpu").
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import sys
from pathlib import Path

import transformers
from transformers import AutoConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_finetune_fixtures as mff  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OURS = REPO / "tests" / "fixtures" / "finetune" / "ours"
EXPECTED = {"pair": "BertForSequenceClassification", "ner": "BertForTokenClassification",
            "qa": "BertForQuestionAnswering"}


def check_loads(task, path):
    config = AutoConfig.from_pretrained(str(path))
    (arch,) = config.architectures
    if arch != EXPECTED[task]:
        sys.exit(f"error: {path}: architectures {arch}, expected {EXPECTED[task]}")
    cls = getattr(transformers, arch)
    model, info = cls.from_pretrained(str(path), output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        sys.exit(f"error: {path}: {problems}")
    print(f"{task}: {path} loads as {type(model).__name__}, labels {config.id2label}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dirs", nargs="*", default=[], help="task=DIR for pair, ner and qa")
    ap.add_argument("--out", default=str(OURS / "transformers.json"))
    args = ap.parse_args()
    dirs = {t: OURS / t for t in EXPECTED}
    dirs.update({k: Path(v).resolve() for k, v in (d.split("=", 1) for d in args.dirs)})
    for task, path in dirs.items():
        check_loads(task, path)
    results = mff.run_pipelines(dirs)
    results["transformers_version"] = transformers.__version__
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
