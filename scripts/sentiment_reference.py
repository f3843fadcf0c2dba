#!/usr/bin/env python3
"""PyTorch + transformers reference for the README's sentiment comparison (fine-tuning issue, item 5).

Fine-tunes a BERT model directory with BertForSequenceClassification on data/sentiment/train.tsv and
reports accuracy on dev.tsv, so that `bert-wgpu finetune` with the same recipe can be compared with it. Run by a
developer, never by CI:

    python3 scripts/sentiment_reference.py --model models/all-MiniLM-L6-v2
    python3 scripts/sentiment_reference.py --model pretrained/austen-bert-tiny --lr 1e-4
    # smoke test (seconds): python3 scripts/sentiment_reference.py --model tests/fixtures/tiny-bert \
    #     --limit 64 --eval-limit 64 --epochs 1 --max-length 32

Data: TSV with a header naming the columns, here `label<TAB>text` (label 0 or 1); an optional `text_pair` column
makes it a sentence-pair task. Labels are the sorted distinct values of the train file's `label` column; they go to
config.json as id2label/label2id (names = the values as written).

Recipe (the defaults; every one is an option): a classifier (Linear(hidden, labels), normal(0, initializer_range),
zero bias; torch seeded with --seed before loading) on the pooled [CLS] output; the pooler is kept when the checkpoint
has one. Dropout as in config.json (train mode). torch.optim.AdamW(lr, betas (0.9, 0.999), eps 1e-8), weight decay
0.01 except biases and LayerNorm weights; linear warmup over int(warmup_ratio * total steps), then linear decay to
0; global gradient-norm clipping at 1.0. Each epoch: a permutation of the training rows,
batches of --batch-size with padding to the longest sequence of the batch, truncation to --max-length tokens.
Cross-entropy loss (mean over the batch). Evaluation after each epoch (eval mode, batches of 128): accuracy and
macro F1 on dev. The reported `accuracy` is after the last epoch (no model selection on dev).

Prints one JSON object on stdout (progress goes to stderr): accuracy, macro_f1, per-epoch metrics, wall time,
the device and the versions. --out DIR also saves the fine-tuned model (save_pretrained + tokenizer).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

import transformers
from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "sentiment"


MASK64 = (1 << 64) - 1


class SplitMix64:
    """bert-wgpu's host RNG (src/rng.rs), so that --rng bert-wgpu gives the Rust run's data order and head."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next_u64() >> 11) / float(1 << 53)

    def below(self, n):
        return (self.next_u64() * n) >> 64

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def normal(self):
        u1 = max(self.uniform(), sys.float_info.min)
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def bert_wgpu_head(model, seed, had_pooler):
    """The fresh head (and pooler) of `bert-wgpu finetune`: normal(0, initializer_range) from SplitMix64(seed),
    pooler first when the checkpoint has none, zero biases."""
    rng, std = SplitMix64(seed), model.config.initializer_range
    with torch.no_grad():
        layers = ([] if had_pooler else [model.bert.pooler.dense]) + [model.classifier]
        for layer in layers:
            w = torch.tensor([rng.normal() * std for _ in range(layer.weight.numel())], dtype=torch.float64)
            layer.weight.copy_(w.view_as(layer.weight).float())
            layer.bias.zero_()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def read_tsv(path: Path, limit=None):
    """Rows of a TSV file with a header (`label`, `text`, optional `text_pair`), split on tabs only (no quoting)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        sys.exit(f"error: {path}: empty file")
    header = lines[0].split("\t")
    for col in ("label", "text"):
        if col not in header:
            sys.exit(f"error: {path}:1: header {header} has no column {col!r}")
    idx = {c: header.index(c) for c in header}
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if line == "":
            continue
        f = line.split("\t")
        if len(f) != len(header):
            sys.exit(f"error: {path}:{n}: {len(f)} fields, the header has {len(header)}")
        text = f[idx["text"]]
        pair = f[idx["text_pair"]] if "text_pair" in idx else None
        if not text.strip() or not f[idx["label"]].strip():
            sys.exit(f"error: {path}:{n}: empty text or label")
        rows.append((text, pair, f[idx["label"]]))
        if limit is not None and len(rows) >= limit:
            break
    return rows


def decays(name):
    return not (name.endswith(".bias") or "LayerNorm" in name)


def encode(tok, rows, label2id, max_length):
    texts = [t for t, _, _ in rows]
    pairs = [p for _, p, _ in rows]
    enc = tok(texts, pairs if pairs[0] is not None else None, truncation=True, max_length=max_length)
    feats = []
    for i, (_, _, lab) in enumerate(rows):
        f = {k: enc[k][i] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        f["labels"] = label2id[lab]
        feats.append(f)
    return feats


def collate(tok, feats, device):
    labels = torch.tensor([f["labels"] for f in feats], dtype=torch.int64)
    b = tok.pad([{k: v for k, v in f.items() if k != "labels"} for f in feats], return_tensors="pt")
    b = {k: v.to(device) for k, v in b.items()}
    b["labels"] = labels.to(device)
    return b


@torch.no_grad()
def evaluate(model, tok, feats, n_labels, device, batch_size=128):
    model.eval()
    pred, gold = [], []
    for s in range(0, len(feats), batch_size):
        b = collate(tok, feats[s:s + batch_size], device)
        gold += b.pop("labels").tolist()
        pred += model(**b).logits.argmax(-1).tolist()
    model.train()
    acc = sum(p == g for p, g in zip(pred, gold)) / len(gold)
    f1s = []
    for c in range(n_labels):
        tp = sum(p == c and g == c for p, g in zip(pred, gold))
        fp = sum(p == c and g != c for p, g in zip(pred, gold))
        fn = sum(p != c and g == c for p, g in zip(pred, gold))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return acc, sum(f1s) / n_labels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="BERT model directory (config.json, model.safetensors, vocab)")
    ap.add_argument("--train", default=str(DATA / "train.tsv"))
    ap.add_argument("--dev", default=str(DATA / "dev.tsv"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0, help="global gradient-norm clipping (0: off)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training examples")
    ap.add_argument("--eval-limit", type=int, default=None, help="use only the first N dev examples")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when available)")
    ap.add_argument("--out", default=None, help="save the fine-tuned model here")
    ap.add_argument("--rng", choices=["bert-wgpu", "torch"], default="bert-wgpu",
                    help="bert-wgpu: the data order and fresh head of `bert-wgpu finetune` with the same --seed "
                         "(SplitMix64), so that only dropout masks differ; torch: torch.randperm and torch's init")
    args = ap.parse_args()

    t_start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    if not (Path(args.model) / "config.json").is_file():
        sys.exit(f"error: {args.model}: not a model directory (no config.json)")
    train_rows = read_tsv(Path(args.train), args.limit)
    dev_rows = read_tsv(Path(args.dev), args.eval_limit)
    labels = sorted({l for _, _, l in train_rows})
    label2id = {l: i for i, l in enumerate(labels)}
    for n, (_, _, l) in enumerate(dev_rows):
        if l not in label2id:
            sys.exit(f"error: {args.dev}: label {l!r} (example {n + 1}) is not among the training labels {labels}")

    tok = AutoTokenizer.from_pretrained(args.model)
    torch.manual_seed(args.seed)  # the classifier's (and a missing pooler's) initialisation
    model, info = BertForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id,
        problem_type="single_label_classification", attn_implementation="eager", output_loading_info=True,
        dtype=torch.float32)  # float32 training whatever the checkpoint's dtype (the shipped model is f16)
    newly_initialized = sorted(info.get("missing_keys", []))
    if args.rng == "bert-wgpu":
        bert_wgpu_head(model, args.seed, had_pooler=not any("pooler" in k for k in newly_initialized))
    model.to(device).train()
    log(f"model {args.model}: newly initialised {newly_initialized}")

    train = encode(tok, train_rows, label2id, args.max_length)
    dev = encode(tok, dev_rows, label2id, args.max_length)
    steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.epochs
    named = list(model.named_parameters())
    opt = torch.optim.AdamW([
        {"params": [p for n, p in named if decays(n)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup_ratio * total), total)

    epochs = []
    train_seconds = eval_seconds = 0.0
    step = 0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        if args.rng == "bert-wgpu":
            perm = list(range(len(train)))
            SplitMix64(args.seed + epoch).shuffle(perm)
        else:
            perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed + epoch)).tolist()
        loss_sum = 0.0
        for s in range(0, len(train), args.batch_size):
            b = collate(tok, [train[i] for i in perm[s:s + args.batch_size]], device)
            loss = model(**b).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            sched.step()
            loss_sum += loss.item()
            step += 1
            if step % 50 == 0 or step == total:
                log(f"epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        acc, f1 = evaluate(model, tok, dev, len(labels), device)
        t2 = time.perf_counter()
        train_seconds += t1 - t0
        eval_seconds += t2 - t1
        epochs.append({"epoch": epoch + 1, "train_loss": loss_sum / steps_per_epoch, "dev_accuracy": acc,
                       "dev_macro_f1": f1, "train_seconds": t1 - t0, "eval_seconds": t2 - t1})
        log(f"epoch {epoch + 1}: train loss {loss_sum / steps_per_epoch:.4f}, dev accuracy {acc:.4f}, "
            f"macro F1 {f1:.4f} ({t1 - t0:.1f} s + {t2 - t1:.1f} s)")

    if args.out:
        model.save_pretrained(args.out)
        tok.save_pretrained(args.out)

    result = {
        "model": args.model, "train": args.train, "dev": args.dev,
        "train_examples": len(train), "dev_examples": len(dev), "labels": labels,
        "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "max_length": args.max_length,
        "seed": args.seed, "rng": args.rng, "warmup_ratio": args.warmup_ratio, "weight_decay": args.weight_decay, "clip": args.clip,
        "steps": total, "newly_initialized": newly_initialized,
        "accuracy": epochs[-1]["dev_accuracy"] if epochs else None,
        "macro_f1": epochs[-1]["dev_macro_f1"] if epochs else None,
        "best_epoch_accuracy": max((e["dev_accuracy"] for e in epochs), default=None),
        "epoch_metrics": epochs,
        "train_seconds": train_seconds, "eval_seconds": eval_seconds,
        "wall_seconds": time.perf_counter() - t_start,
        "device": str(device) if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(device)})",
        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__, "transformers": transformers.__version__,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
