#!/usr/bin/env python3
"""Checks a model directory written by `bert-wgpu pretrain` in transformers (BertForPreTraining, float32).

1. Records transformers' fill-mask top-5 for a few texts (the Austen sentences below, or one text a line of
   --texts FILE) into DIR/transformers-fill-mask.json, which tests/pipelines.rs compares with bert-wgpu's own
   output.
2. With --heldout CORPUS (default data/austen/heldout.txt when it exists): evaluates masked LM and next
   sentence prediction on chapters never trained on, and writes DIR/heldout-eval.json. The instances are made
   as the original BERT `create_pretraining_data.py` makes them (sequences of at most --seq-len tokens, a
   pair of segments with a random next segment half of the time, 15% of tokens masked, at most 20 per
   sequence, 80% [MASK] / 10% random / 10% kept), with a fixed seed, so every model is scored on the same
   masks. Accuracy is the share of masked tokens whose top prediction is the original token.

Run by developers (needs torch + transformers):

    python3 scripts/check_pretrained.py pretrained/austen-bert-tiny
    python3 scripts/check_pretrained.py runs/austen/checkpoint-5000 --heldout data/austen/heldout.txt --no-fill-mask
    python3 scripts/check_pretrained.py runs/korean --heldout runs/korean-heldout.txt --texts korean-texts.txt
"""
import argparse
import json
import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import AutoTokenizer, BertForPreTraining, pipeline  # noqa: E402

TEXTS = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a [MASK].",
    "Mr. Darcy was the [MASK] of Pemberley.",
    "She was the youngest of the two [MASK] of a most affectionate, indulgent father.",
]
DEFAULT_HELDOUT = os.path.join(os.path.dirname(__file__), "..", "data", "austen", "heldout.txt")


def read_documents(path, tokenizer):
    """A corpus file (one sentence a line, a blank line between documents) as documents of token-id lists."""
    documents, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                if current:
                    documents.append(current)
                current = []
                continue
            ids = tokenizer(line, add_special_tokens=False)["input_ids"]
            if ids:
                current.append(ids)
    if current:
        documents.append(current)
    return documents


def truncate_pair(a, b, max_tokens, rng):
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def mask_tokens(tokens, special_ids, mask_id, vocab_size, rng, max_predictions):
    """Masks tokens in place; returns [(position, original id)]."""
    candidates = [i for i, t in enumerate(tokens) if t not in special_ids]
    rng.shuffle(candidates)
    count = min(max_predictions, max(1, int(round(len(tokens) * 0.15))))
    masked = []
    for i in sorted(candidates[:count]):
        masked.append((i, tokens[i]))
    for i, _ in masked:
        r = rng.random()
        if r < 0.8:
            tokens[i] = mask_id
        elif r < 0.9:
            pass
        else:
            tokens[i] = rng.randint(0, vocab_size - 1)
    return masked


def make_instances(documents, tokenizer, seq_len, seed, max_predictions=20, short_seq_prob=0.1):
    """(input ids, token type ids, [(position, original id)], is_random_next) per instance; one target length
    per document, as in the original."""
    rng = random.Random(seed)
    cls, sep, mask = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id
    special_ids = {cls, sep}
    max_tokens = seq_len - 3
    instances = []
    for doc_index, document in enumerate(documents):
        target = max_tokens if rng.random() >= short_seq_prob else rng.randint(2, max_tokens)
        chunk, length, i = [], 0, 0
        while i < len(document):
            chunk.append(document[i])
            length += len(document[i])
            if i == len(document) - 1 or length >= target:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                a = [t for s in chunk[:a_end] for t in s]
                b = []
                random_next = len(chunk) == 1 or rng.random() < 0.5
                if random_next and len(documents) > 1:
                    other = doc_index
                    while other == doc_index:
                        other = rng.randint(0, len(documents) - 1)
                    start = rng.randint(0, len(documents[other]) - 1)
                    for sentence in documents[other][start:]:
                        b.extend(sentence)
                        if len(b) >= target - len(a):
                            break
                    i -= len(chunk) - a_end
                else:
                    random_next = False
                    b = [t for s in chunk[a_end:] for t in s]
                truncate_pair(a, b, max_tokens, rng)
                if a and b:
                    tokens = [cls] + a + [sep] + b + [sep]
                    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
                    masked = mask_tokens(tokens, special_ids, mask, tokenizer.vocab_size, rng, max_predictions)
                    instances.append((tokens, types, masked, random_next))
                chunk, length = [], 0
            i += 1
    return instances


@torch.no_grad()
def evaluate(model, instances, pad_id, batch_size=32):
    correct = total = nsp_correct = 0
    loss_sum = 0.0
    for start in range(0, len(instances), batch_size):
        batch = instances[start : start + batch_size]
        width = max(len(t) for t, _, _, _ in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        types = torch.zeros((len(batch), width), dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (t, s, _, _) in enumerate(batch):
            ids[row, : len(t)] = torch.tensor(t)
            types[row, : len(s)] = torch.tensor(s)
            attention[row, : len(t)] = 1
        out = model(input_ids=ids, token_type_ids=types, attention_mask=attention)
        for row, (_, _, masked, random_next) in enumerate(batch):
            if masked:
                positions = torch.tensor([p for p, _ in masked])
                targets = torch.tensor([t for _, t in masked])
                logits = out.prediction_logits[row, positions]
                correct += (logits.argmax(-1) == targets).sum().item()
                loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()
                total += len(masked)
            nsp_correct += int(out.seq_relationship_logits[row].argmax().item() == int(random_next))
    return {
        "mlm_accuracy": correct / total,
        "mlm_loss": loss_sum / total,
        "nsp_accuracy": nsp_correct / len(instances),
        "masked_tokens": total,
        "instances": len(instances),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", nargs="?", default="pretrained/austen-bert-tiny")
    parser.add_argument("--heldout", default=DEFAULT_HELDOUT, help="corpus of documents never trained on")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--no-fill-mask", action="store_true", help="only the held-out evaluation")
    parser.add_argument("--texts", help="fill-mask texts, one a line, each with [MASK] (default: Austen sentences)")
    args = parser.parse_args()
    directory = args.directory

    model = BertForPreTraining.from_pretrained(directory, dtype=torch.float32).eval()
    missing = [k for k, v in model.state_dict().items() if not torch.isfinite(v).all()]
    assert not missing, f"non-finite parameters: {missing}"
    tokenizer = AutoTokenizer.from_pretrained(directory)

    if not args.no_fill_mask:
        fill = pipeline("fill-mask", model=directory, tokenizer=tokenizer, top_k=5, dtype=torch.float32)
        texts = TEXTS
        if args.texts:
            with open(args.texts, encoding="utf-8") as f:
                texts = [line.strip() for line in f if line.strip()]
            bad = [t for t in texts if tokenizer.mask_token not in t]
            assert texts and not bad, f"{args.texts}: every line needs {tokenizer.mask_token}: {bad}"
        out = {text: fill(text) for text in texts}
        for text, preds in out.items():
            print(text)
            for p in preds:
                print(f"  {p['score']:.4f}  {p['token_str']}")
        with open(os.path.join(directory, "transformers-fill-mask.json"), "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")

    if args.heldout and os.path.exists(args.heldout):
        documents = read_documents(args.heldout, tokenizer)
        instances = make_instances(documents, tokenizer, args.seq_len, args.seed)
        result = evaluate(model, instances, tokenizer.pad_token_id)
        result.update(corpus=os.path.basename(args.heldout), documents=len(documents), seq_len=args.seq_len,
                      seed=args.seed)
        print(f"held-out ({result['documents']} documents, {result['instances']} instances, "
              f"{result['masked_tokens']} masked tokens): MLM accuracy {result['mlm_accuracy']:.1%}, "
              f"MLM loss {result['mlm_loss']:.3f}, NSP accuracy {result['nsp_accuracy']:.1%}")
        with open(os.path.join(directory, "heldout-eval.json"), "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    elif args.heldout != DEFAULT_HELDOUT:
        raise SystemExit(f"{args.heldout}: no such corpus")


if __name__ == "__main__":
    main()
