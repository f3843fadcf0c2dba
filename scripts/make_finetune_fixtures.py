#!/usr/bin/env python3
"""Build the PyTorch/transformers fine-tuning fixtures under tests/fixtures/finetune/ (task heads).

Run by a developer (never by CI); the outputs are committed:

    python3 scripts/make_finetune_fixtures.py            # everything (about 17 s on one CPU thread)
    python3 scripts/make_finetune_fixtures.py --no-train # skip the PyTorch learnability runs (keeps trained/)

Needs torch (CPU is enough), transformers 5.x and safetensors, and tests/fixtures/tiny-bert/ (written by
scripts/make_fixtures.py; its tokenizer files are copied). Nothing is fetched from a model hub (HF_HUB_OFFLINE=1).
Re-running gives identical files.

Outputs (see tests/fixtures/finetune/README.md):
  seq-cls/ seq-reg/ token-cls/ qa/       seeded tiny BertFor{SequenceClassification,TokenClassification,
                                         QuestionAnswering} directories (dropout 0.0, max positions 64)
  <task>-reference.safetensors           one padded batch per head: inputs, labels, logits, loss, grad.<param>
  pair*.tsv ner*.jsonl ner*.conll qa*.json   synthetic datasets (all, train, eval) from the tiny vocabulary
  bad/                                   deliberately broken data files for the error tests
  trained/{pair,ner,qa}/                 the seq-cls / token-cls / qa models fine-tuned here on the train splits
  learnability.json                      the PyTorch recipe and the eval metrics it reaches on each task
  pipelines.json                         transformers pipeline outputs of trained/ (predict parity, JSON shapes)
"""

import argparse
import collections
import copy
import json
import random
import re
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_common as fc  # noqa: E402  (first: the offline environment, one deterministic CPU thread)
from fixture_common import FIXTURES, MODEL_INPUTS, REPO, TINY_BERT  # noqa: E402
import make_fixtures as mf  # noqa: E402  (tiny config, seeded init + bias/LayerNorm perturbation)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import (  # noqa: E402
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertTokenizerFast,
    get_linear_schedule_with_warmup,
    pipeline,
)

OUT = FIXTURES / "finetune"
MAX_POS = 64

PAIR_LABELS = ["entailment", "neutral", "contradiction"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

SEEDS = {"seq-cls": 2001, "seq-reg": 2002, "token-cls": 2003, "qa": 2004}

# ----------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------


def task_config(vocab_size, task):
    arch = {"seq-cls": "BertForSequenceClassification", "seq-reg": "BertForSequenceClassification",
            "token-cls": "BertForTokenClassification", "qa": "BertForQuestionAnswering"}[task]
    config = mf.tiny_config(vocab_size, "gelu", [arch])
    config.max_position_embeddings = MAX_POS
    config.hidden_dropout_prob = 0.0  # train mode is then deterministic
    config.attention_probs_dropout_prob = 0.0
    if task == "seq-cls":
        config.id2label = dict(enumerate(PAIR_LABELS))
        config.label2id = {l: i for i, l in enumerate(PAIR_LABELS)}
        config.problem_type = "single_label_classification"
    elif task == "seq-reg":
        config.id2label = {0: "score"}
        config.label2id = {"score": 0}
        config.problem_type = "regression"
    elif task == "token-cls":
        config.id2label = dict(enumerate(NER_LABELS))
        config.label2id = {l: i for i, l in enumerate(NER_LABELS)}
    else:  # qa: transformers' default two labels (start, end): qa_outputs is (2, H)
        config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
        config.label2id = {"LABEL_0": 0, "LABEL_1": 1}
    return config


MODEL_CLASS = {"seq-cls": BertForSequenceClassification, "seq-reg": BertForSequenceClassification,
               "token-cls": BertForTokenClassification, "qa": BertForQuestionAnswering}


def save_task_dir(model, dir_: Path):
    fc.save_model_dir(model, dir_, TINY_BERT)  # save_pretrained (safetensors) + tiny-bert's tokenizer files
    # The tokenizer files are tiny-bert's, except that model_max_length follows max_position_embeddings.
    tc = json.loads((dir_ / "tokenizer_config.json").read_text(encoding="utf-8"))
    tc["model_max_length"] = model.config.max_position_embeddings
    (dir_ / "tokenizer_config.json").write_text(json.dumps(tc, indent=2) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------------------
# Reference batches
# ----------------------------------------------------------------------------------------------------------

SEQ_CLS_PAIRS = [  # (text, text_pair, label)
    ("the king went to paris .", "the king went to paris", "entailment"),
    ("my mother walked home with the dog .", "the girl played in the garden", "neutral"),
    ("the queen loved the horses .", "the queen did not love the horses", "contradiction"),
    ("i ran", "you ran", "neutral"),
]
SEQ_REG_TEXTS = [  # single sentences (token_type_ids all 0), float targets
    ("it is a truth universally acknowledged .", 0.75),
    ("the kings played in the garden", -1.5),
    ("a sad day", 2.25),
]
TOKEN_CLS_WORDS = [  # pre-split words (is_split_into_words), tags per word
    (["queen", "pride", "walked", "to", "london", "town", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]),
    (["the", "kings", "of", "france", "loved", "paris"], ["O", "O", "O", "B-LOC", "O", "B-LOC"]),
    (["lady", "fortune", "played", "."], ["B-PER", "I-PER", "O", "O"]),
]
QA_EXAMPLES = [  # (question, context, answer text or None for "answer not in this window" -> [CLS])
    ("where did the prince live ?", "the prince lived in new england with his wife .", "new england"),
    ("who walked home ?", "lady pride walked home .", "lady pride"),
    ("who married the king ?", "the dog ran home .", None),
]


def seq_cls_batch(tok):
    enc = tok([a for a, _, _ in SEQ_CLS_PAIRS], [b for _, b, _ in SEQ_CLS_PAIRS], padding=True, return_tensors="pt",
              return_token_type_ids=True, return_attention_mask=True)
    b = fc.model_inputs(enc)
    b["labels"] = torch.tensor([PAIR_LABELS.index(l) for _, _, l in SEQ_CLS_PAIRS], dtype=torch.int64)
    return b


def seq_reg_batch(tok):
    enc = tok([t for t, _ in SEQ_REG_TEXTS], padding=True, return_tensors="pt", return_token_type_ids=True,
              return_attention_mask=True)
    b = fc.model_inputs(enc)
    b["labels"] = torch.tensor([y for _, y in SEQ_REG_TEXTS], dtype=torch.float32)
    return b


def align_word_labels(enc, tags_per_example, label_ids):
    """Label the first word piece of each word; -100 on specials, padding and later pieces. Returns (labels,
    word_ids) with word_ids -1 where there is no word."""
    labels, wids = [], []
    for i, tags in enumerate(tags_per_example):
        row, wrow, prev = [], [], None
        for w in enc.word_ids(i):
            wrow.append(-1 if w is None else w)
            if w is None or w == prev:
                row.append(-100)
            else:
                row.append(label_ids[tags[w]])
            prev = w
        labels.append(row)
        wids.append(wrow)
    return torch.tensor(labels, dtype=torch.int64), torch.tensor(wids, dtype=torch.int64)


def token_cls_batch(tok):
    enc = tok([w for w, _ in TOKEN_CLS_WORDS], is_split_into_words=True, padding=True, return_tensors="pt",
              return_token_type_ids=True, return_attention_mask=True)
    b = fc.model_inputs(enc)
    b["labels"], b["word_ids"] = align_word_labels(enc, [t for _, t in TOKEN_CLS_WORDS],
                                                   {l: i for i, l in enumerate(NER_LABELS)})
    return b


def char_span_to_tokens(enc, i, start_char, end_char, context_seq=1):
    """First and last token of sequence `context_seq` covering [start_char, end_char), or (0, 0) when the span is
    not entirely inside this window (transformers' run_qa convention: point at [CLS])."""
    seq = enc.sequence_ids(i)
    offs = enc["offset_mapping"][i]
    idx = [t for t, s in enumerate(seq) if s == context_seq]
    if not idx or not (offs[idx[0]][0] <= start_char and offs[idx[-1]][1] >= end_char):
        return 0, 0
    s = next(t for t in idx if offs[t][0] <= start_char < offs[t][1] or offs[t][0] >= start_char)
    e = next(t for t in reversed(idx) if offs[t][0] < end_char)
    return s, e


def qa_batch(tok):
    enc = tok([q for q, _, _ in QA_EXAMPLES], [c for _, c, _ in QA_EXAMPLES], padding=True, return_tensors="pt",
              return_token_type_ids=True, return_attention_mask=True, return_offsets_mapping=True)
    b = fc.model_inputs(enc)
    starts, ends = [], []
    for i, (_, ctx, ans) in enumerate(QA_EXAMPLES):
        if ans is None:
            s = e = 0
        else:
            c0 = ctx.index(ans)
            s, e = char_span_to_tokens(enc, i, c0, c0 + len(ans))
            assert s > 0 and tok.decode(enc["input_ids"][i][s:e + 1]) == ans, (ans, s, e)
        starts.append(s)
        ends.append(e)
    b["start_positions"] = torch.tensor(starts, dtype=torch.int64)
    b["end_positions"] = torch.tensor(ends, dtype=torch.int64)
    return b


def reference(task, model, batch):
    """Forward + backward in train mode (dropout 0), our own loss checked against transformers' out.loss."""
    model.train()
    model.zero_grad(set_to_none=True)
    kw = {k: batch[k] for k in MODEL_INPUTS}
    if task == "qa":
        out = model(**kw, start_positions=batch["start_positions"], end_positions=batch["end_positions"],
                    output_hidden_states=True, return_dict=True)
        T = batch["input_ids"].shape[1]
        # transformers: softmax over all T positions (padding included, no masking), mean over the batch
        mine = (F.cross_entropy(out.start_logits, batch["start_positions"].clamp(0, T), ignore_index=T)
                + F.cross_entropy(out.end_logits, batch["end_positions"].clamp(0, T), ignore_index=T)) / 2
    else:
        out = model(**kw, labels=batch["labels"], output_hidden_states=True, return_dict=True)
        if task == "seq-cls":
            mine = F.cross_entropy(out.logits, batch["labels"])
        elif task == "seq-reg":
            mine = F.mse_loss(out.logits.squeeze(-1), batch["labels"])
        else:
            mine = F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), batch["labels"].reshape(-1),
                                   ignore_index=-100)
    assert abs(mine.item() - out.loss.item()) <= 1e-6 * max(1.0, abs(mine.item())), (task, mine, out.loss)
    out.loss.backward()
    t = dict(batch)
    if task == "qa":
        t["start_logits"] = out.start_logits.detach().contiguous()
        t["end_logits"] = out.end_logits.detach().contiguous()
    else:
        t["logits"] = out.logits.detach().contiguous()
    t["loss"] = out.loss.detach().reshape(1)
    t["last_hidden_state"] = out.hidden_states[-1].detach().contiguous()
    if task in ("seq-cls", "seq-reg"):
        with torch.no_grad():
            t["pooled_output"] = model.bert(**kw).pooler_output.detach().contiguous()
    named = list(model.named_parameters())
    assert len(named) == len(list(model.named_parameters(remove_duplicate=False))), "unexpected tied parameters"
    for n, p in named:
        assert p.grad is not None, n
        t[f"grad.{n}"] = p.grad.detach().contiguous().clone()
    # train mode with dropout 0 is eval mode
    ev = copy.deepcopy(model).eval()
    with torch.no_grad():
        o2 = ev(**kw, return_dict=True)
        assert torch.equal(o2.start_logits if task == "qa" else o2.logits,
                           t["start_logits"] if task == "qa" else t["logits"])
    return t, named


# A bias added to every position of the last hidden state (the last LayerNorm's bias, through qa_outputs) or to
# every start/end logit (qa_outputs.bias) shifts all logits of a softmax over positions equally: zero gradient.
QA_ZERO_GRADS = ("bert.encoder.layer.1.output.LayerNorm.bias", "qa_outputs.bias")


def grad_accuracy(task, model, batch, t):
    """float32 gradients against a float64 autograd run: (max abs diff, worst relative to the tensor's max |g|,
    max |g| of the attention key biases, which are exactly 0 analytically)."""
    m64 = copy.deepcopy(model).double().train()
    m64.zero_grad(set_to_none=True)
    kw = {k: batch[k] for k in MODEL_INPUTS}
    if task == "qa":
        loss = m64(**kw, start_positions=batch["start_positions"], end_positions=batch["end_positions"]).loss
    else:
        labels = batch["labels"].double() if task == "seq-reg" else batch["labels"]
        loss = m64(**kw, labels=labels).loss
    loss.backward()
    worst_abs, worst_rel, key_bias = 0.0, ("", 0.0), 0.0
    for n, p in m64.named_parameters():
        g32 = t[f"grad.{n}"].double()
        d = (g32 - p.grad).abs().max().item()
        worst_abs = max(worst_abs, d)
        if n.endswith("attention.self.key.bias") or (task == "qa" and n in QA_ZERO_GRADS):
            key_bias = max(key_bias, g32.abs().max().item())
            continue
        m = p.grad.abs().max().item()
        if m > 0 and d / m > worst_rel[1]:
            worst_rel = (n, d / m)
    return worst_abs, worst_rel, key_bias, loss.item()


# ----------------------------------------------------------------------------------------------------------
# Datasets (every word is in the tiny vocabulary, or a word + one of its ## pieces)
# ----------------------------------------------------------------------------------------------------------

# Few subjects: a tiny model trained from random weights learns the cross-segment comparison "same subject?" only
# when every (subject of A, subject of B) combination occurs in training (10 subjects gave ~0.70 eval accuracy).
SUBJECTS = ["the king", "the queen", "the boy", "the girl"]
PREDICATES = [  # (past, base form for "did not ...")
    ("went to paris", "go to paris"), ("lived in london", "live in london"), ("walked home", "walk home"),
    ("ate the bread", "eat the bread"), ("read the letter", "read the letter"), ("loved the horses", "love the horses"),
    ("played in the garden", "play in the garden"), ("found the money", "find the money"),
    ("told the truth", "tell the truth"), ("married a rich man", "marry a rich man"),
]
ADJUNCTS = ["", "", " in the morning", " at night", " with a friend", " after the long day"]


def make_pair(rng, n):
    """Sentence pairs. entailment: B repeats A's subject and predicate (A may add an adjunct); contradiction: B
    repeats A's subject and negates the predicate ("did not" + base form); neutral: B has another subject and
    another predicate. Labels cycle entailment, neutral, contradiction."""
    rows = []
    for i in range(n):
        label = PAIR_LABELS[i % 3]
        s = rng.choice(SUBJECTS)
        p, base = rng.choice(PREDICATES)
        a = f"{s} {p}{rng.choice(ADJUNCTS)} ."
        if label == "entailment":
            b = f"{s} {p}"
        elif label == "contradiction":
            b = f"{s} did not {base}"
        else:
            s2 = rng.choice([x for x in SUBJECTS if x != s])
            b = f"{s2} {rng.choice([x for x in PREDICATES if x[0] != p])[0]}"
        rows.append((a, b, label))
    return rows


PERSON_TITLES = ["king", "queen", "prince", "princess", "lady"]
PERSON_NAMES = ["fortune", "pride", "dear", "sense"]
LOCATIONS = [["paris"], ["london"], ["france"], ["england"], ["new", "england"], ["london", "town"]]
NER_TEMPLATES = [  # P, Q: persons; L, M: locations
    "P lived in L .", "P went to L with Q .", "P walked from L to M .", "in L , P married Q .",
    "P loved the horses of L .", "the people of L called P .", "P told Q about L .", "P and Q played in the garden .",
    "it is a truth universally acknowledged that P wants a house in L .", "the dog ran home .",
    "P asked Q for money .", "one morning P left L .",
]


def person(rng):
    t = rng.choice(PERSON_TITLES)
    return [t, rng.choice(PERSON_NAMES)] if rng.random() < 0.5 else [t]


def make_ner(rng, n):
    rows = []
    for i in range(n):
        tmpl = NER_TEMPLATES[i % len(NER_TEMPLATES)]
        p, q = person(rng), person(rng)
        while q == p:
            q = person(rng)
        l = rng.choice(LOCATIONS)
        m = rng.choice([x for x in LOCATIONS if x != l])
        tokens, tags = [], []
        for w in tmpl.split():
            ent = {"P": (p, "PER"), "Q": (q, "PER"), "L": (l, "LOC"), "M": (m, "LOC")}.get(w)
            if ent is None:
                tokens.append(w)
                tags.append("O")
            else:
                words, typ = ent
                tokens += words
                tags += [f"B-{typ}"] + [f"I-{typ}"] * (len(words) - 1)
        rows.append({"tokens": tokens, "tags": tags})
    return rows


READS = ["the old book", "a long letter", "the new book", "a short letter", "the little book", "ten words"]
FILLER = ["the day was long and the night was short .", "it was a fine morning in the world .",
          "there were many people in the house .", "the road to the city was very long .",
          "the children played with the dog and the cat .", "we have a small garden by the door ."]


def make_qa(rng, n_contexts, n_long):
    """SQuAD-style paragraphs: each context has one person P who lived in a location L, read an object O and married
    a person Q, in a shuffled sentence order; questions ask who / where / what / whom. The last n_long contexts get
    filler sentences so that question + context exceeds 64 tokens (document stride)."""
    paras = []
    for i in range(n_contexts):
        p = " ".join(person(rng))
        q = " ".join(person(rng))
        while q == p:
            q = " ".join(person(rng))
        l = " ".join(rng.choice(LOCATIONS))
        o = rng.choice(READS)
        sents = [("L", f"{p} lived in {l} ."), ("O", f"{p} read {o} in the morning ."), ("Q", f"{p} married {q} .")]
        rng.shuffle(sents)
        parts = [s for _, s in sents]
        if i >= n_contexts - n_long:
            fill = rng.sample(FILLER, len(FILLER))
            parts = fill[:2] + parts[:1] + fill[2:3] + parts[1:2] + fill[3:5] + parts[2:] + fill[5:]
        context = " ".join(parts)
        # answer positions: in the sentence that states the fact
        def at(key, after):
            sent = next(s for k, s in sents if k == key)
            return context.index(sent) + (sent.index(after) + len(after) if after else 0)
        qas = [
            ("where did " + p + " live ?", l, at("L", " lived in ")),
            ("who lived in " + l + " ?", p, at("L", "")),
            ("what did " + p + " read ?", o, at("O", " read ")),
            ("who did " + p + " marry ?", q, at("Q", " married ")),
        ]
        paras.append({"context": context, "qas": [
            {"id": f"q{i:03d}-{j}", "question": qq, "answers": [{"text": a, "answer_start": s}]}
            for j, (qq, a, s) in enumerate(qas)]})
    return paras


def squad(paras, title):
    return {"version": "bert-wgpu-tiny-qa-1", "data": [{"title": title, "paragraphs": paras}]}


def write_tsv(path, rows):
    path.write_text("text\ttext_pair\tlabel\n" + "".join(f"{a}\t{b}\t{l}\n" for a, b, l in rows), encoding="utf-8")


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_conll(path, rows):
    path.write_text("\n".join("".join(f"{w} {t}\n" for w, t in zip(r["tokens"], r["tags"])) for r in rows),
                    encoding="utf-8")


def write_json(path, obj):
    path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")


def check_vocab(tok, texts, limit=MAX_POS):
    longest = 0
    for t in texts:
        pieces = tok(*t) if isinstance(t, tuple) else tok(t)
        ids = pieces["input_ids"]
        assert tok.unk_token_id not in ids, (t, tok.convert_ids_to_tokens(ids))
        longest = max(longest, len(ids))
    assert longest <= limit, longest
    return longest


def make_datasets(tok):
    rng = random.Random(4242)
    pair = make_pair(rng, 180)
    pair_train, pair_eval = pair[:120], pair[120:]
    ner = make_ner(rng, 100)
    ner_train, ner_eval = ner[:80], ner[80:]
    qa = make_qa(rng, 60, 4)
    # the last 4 contexts are long: 3 of them go to train, 1 to eval
    qa_train, qa_eval = qa[:47] + qa[56:59], qa[47:56] + qa[59:]
    lens = {}
    lens["pair"] = check_vocab(tok, [(a, b) for a, b, _ in pair])
    lens["ner"] = max(len(tok(r["tokens"], is_split_into_words=True)["input_ids"]) for r in ner)
    for r in ner:
        assert len(r["tokens"]) == len(r["tags"])
        check_vocab(tok, [" ".join(r["tokens"])])
    # every entity word of the eval split occurs in the train split
    train_words = {w for r in ner_train for w, t in zip(r["tokens"], r["tags"]) if t != "O"}
    assert {w for r in ner_eval for w, t in zip(r["tokens"], r["tags"]) if t != "O"} <= train_words
    long_ctx = 0
    for para in qa:
        check_vocab(tok, [para["context"]], limit=4 * MAX_POS)
        for qa_ in para["qas"]:
            a = qa_["answers"][0]
            assert para["context"][a["answer_start"]:a["answer_start"] + len(a["text"])] == a["text"]
            n = len(tok(qa_["question"], para["context"])["input_ids"])
            long_ctx += n > MAX_POS
    assert long_ctx == 4 * 4, long_ctx
    OUT.mkdir(parents=True, exist_ok=True)
    write_tsv(OUT / "pair.tsv", pair)
    write_tsv(OUT / "pair-train.tsv", pair_train)
    write_tsv(OUT / "pair-eval.tsv", pair_eval)
    write_jsonl(OUT / "ner.jsonl", ner)
    write_jsonl(OUT / "ner-train.jsonl", ner_train)
    write_jsonl(OUT / "ner-eval.jsonl", ner_eval)
    write_conll(OUT / "ner-train.conll", ner_train)
    write_conll(OUT / "ner-eval.conll", ner_eval)
    write_json(OUT / "qa.json", squad(qa, "tiny"))
    write_json(OUT / "qa-train.json", squad(qa_train, "tiny-train"))
    write_json(OUT / "qa-eval.json", squad(qa_eval, "tiny-eval"))
    make_bad(pair, ner, qa)
    return {"pair": (pair_train, pair_eval), "ner": (ner_train, ner_eval), "qa": (qa_train, qa_eval), "lens": lens}


def make_bad(pair, ner, qa):
    bad = OUT / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    rows = [f"{a}\t{b}\t{l}\n" for a, b, l in pair[:6]]
    hdr = "text\ttext_pair\tlabel\n"
    # line 4 (header = line 1): two fields instead of three
    r = list(rows)
    r[2] = f"{pair[2][0]}\t{pair[2][2]}\n"
    (bad / "pair-ragged.tsv").write_text(hdr + "".join(r), encoding="utf-8")
    # line 3: empty text field
    r = list(rows)
    r[1] = f"\t{pair[1][1]}\t{pair[1][2]}\n"
    (bad / "pair-empty-field.tsv").write_text(hdr + "".join(r), encoding="utf-8")
    # line 5: label "maybe" (not entailment / neutral / contradiction)
    r = list(rows)
    r[3] = f"{pair[3][0]}\t{pair[3][1]}\tmaybe\n"
    (bad / "pair-unknown-label.tsv").write_text(hdr + "".join(r), encoding="utf-8")
    # line 3: one tag fewer than tokens
    r = [dict(x) for x in ner[:5]]
    r[2] = {"tokens": r[2]["tokens"], "tags": r[2]["tags"][:-1]}
    write_jsonl(bad / "ner-count-mismatch.jsonl", r)
    # line 2: tag B-ORG (not in the label set)
    r = [dict(x) for x in ner[:5]]
    tags = list(r[1]["tags"])
    tags[tags.index("B-LOC") if "B-LOC" in tags else 0] = "B-ORG"
    r[1] = {"tokens": r[1]["tokens"], "tags": tags}
    write_jsonl(bad / "ner-unknown-tag.jsonl", r)
    # question q001-2: answer_start off by 3 (the text is in the context, but not there)
    p = copy.deepcopy(qa[:2])
    p[1]["qas"][2]["answers"][0]["answer_start"] += 3
    a = p[1]["qas"][2]["answers"][0]
    assert a["text"] in p[1]["context"] and p[1]["context"][a["answer_start"]:][:len(a["text"])] != a["text"]
    write_json(bad / "qa-answer-offset.json", squad(p, "bad-offset"))
    # question q001-0: the answer text does not occur in the context at all
    p = copy.deepcopy(qa[:2])
    p[1]["qas"][0]["answers"][0]["text"] = "the capital of france"
    assert "the capital of france" not in p[1]["context"]
    write_json(bad / "qa-answer-missing.json", squad(p, "bad-missing"))
    return bad


# ----------------------------------------------------------------------------------------------------------
# Learnability: fine-tune each task model on its train split in PyTorch, evaluate on the eval split
# ----------------------------------------------------------------------------------------------------------

RECIPE = {"optimizer": "torch.optim.AdamW", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
          "no_decay": "names ending in .bias or containing .LayerNorm.", "clip": 1.0, "batch_size": 8,
          "warmup_ratio": 0.1, "schedule": "linear warmup (int(0.1 * total) steps) then linear decay to 0",
          "lr_epochs": {"pair": [2e-3, 24], "ner": [1e-3, 30], "qa": [1e-3, 16]},
          "shuffle": "torch.randperm(n) with a torch.Generator seeded shuffle_seed + epoch; shuffle_seed 7", "max_length": MAX_POS,
          "qa_doc_stride": 16, "qa_max_answer_length": 8}


def fit(task, model, features, collate, shuffle_seed):
    lr, epochs = RECIPE["lr_epochs"][task]
    n = len(features)
    steps_per_epoch = (n + RECIPE["batch_size"] - 1) // RECIPE["batch_size"]
    total = steps_per_epoch * epochs
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(fc.decay_groups(named, RECIPE["weight_decay"]), lr=lr, betas=tuple(RECIPE["betas"]),
                            eps=RECIPE["eps"], foreach=False, fused=False)
    sched = get_linear_schedule_with_warmup(opt, int(RECIPE["warmup_ratio"] * total), total)
    model.train()
    losses = []
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(shuffle_seed + epoch)).tolist()
        for s in range(0, n, RECIPE["batch_size"]):
            batch = collate([features[i] for i in perm[s:s + RECIPE["batch_size"]]])
            loss = model(**batch).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in named], RECIPE["clip"], foreach=False)
            opt.step()
            sched.step()
            losses.append(loss.item())
    model.eval()
    return total, losses


def pad_collate(tok):
    def collate(feats):
        b = tok.pad([{k: v for k, v in f.items() if k in MODEL_INPUTS} for f in feats], return_tensors="pt")
        b = {k: b[k].to(torch.int64) for k in MODEL_INPUTS}
        T = b["input_ids"].shape[1]
        for k in ("labels", "start_positions", "end_positions"):
            if k in feats[0]:
                v = [f[k] for f in feats]
                if isinstance(v[0], list):
                    v = [x + [-100] * (T - len(x)) for x in v]
                b[k] = torch.tensor(v, dtype=torch.int64)
        return b
    return collate


def macro_f1(gold, pred, n):
    f1s = []
    for c in range(n):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / n


def learn_pair(tok, train, evals, shuffle_seed):
    model = BertForSequenceClassification.from_pretrained(str(OUT / "seq-cls"), attn_implementation="eager")
    feats = []
    for a, b, l in train:
        e = tok(a, b, truncation=True, max_length=MAX_POS)
        feats.append({**{k: e[k] for k in MODEL_INPUTS}, "labels": PAIR_LABELS.index(l)})
    steps, losses = fit("pair", model, feats, pad_collate(tok), shuffle_seed)
    with torch.no_grad():
        enc = tok([a for a, _, _ in evals], [b for _, b, _ in evals], padding=True, return_tensors="pt")
        pred = model(**{k: enc[k] for k in MODEL_INPUTS}).logits.argmax(-1).tolist()
    gold = [PAIR_LABELS.index(l) for _, _, l in evals]
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    return model, steps, losses, {"accuracy": acc, "macro_f1": macro_f1(gold, pred, 3), "chance_accuracy": 1 / 3}


def entities(tags):
    """Entity spans (type, first word, last word) from BIO tags, seqeval's default (non-strict) rules: an I- that
    does not continue an entity of its type starts one."""
    out, cur = [], None
    for i, t in enumerate(tags + ["O"]):
        if t == "O" or t.startswith("B-") or (t.startswith("I-") and (cur is None or cur[0] != t[2:])):
            if cur is not None:
                out.append((cur[0], cur[1], i - 1))
                cur = None
            if t != "O":
                cur = (t[2:], i)
    return set(out)


def learn_ner(tok, train, evals, shuffle_seed):
    model = BertForTokenClassification.from_pretrained(str(OUT / "token-cls"), attn_implementation="eager")
    ids = {l: i for i, l in enumerate(NER_LABELS)}
    feats = []
    for r in train:
        e = tok(r["tokens"], is_split_into_words=True, truncation=True, max_length=MAX_POS)
        labels, prev = [], None
        for w in e.word_ids():
            labels.append(-100 if w is None or w == prev else ids[r["tags"][w]])
            prev = w
        feats.append({**{k: e[k] for k in MODEL_INPUTS}, "labels": labels})
    steps, losses = fit("ner", model, feats, pad_collate(tok), shuffle_seed)
    tp = fp = fn = 0
    tok_ok = tok_n = 0
    with torch.no_grad():
        for r in evals:
            e = tok(r["tokens"], is_split_into_words=True, return_tensors="pt")
            pred_ids = model(**{k: e[k] for k in MODEL_INPUTS}).logits[0].argmax(-1).tolist()
            pred, prev = [], None
            for t, w in enumerate(e.word_ids(0)):
                if w is not None and w != prev:
                    pred.append(NER_LABELS[pred_ids[t]])
                prev = w
            g, p = entities(r["tags"]), entities(pred)
            tp += len(g & p)
            fp += len(p - g)
            fn += len(g - p)
            tok_ok += sum(a == b for a, b in zip(pred, r["tags"]))
            tok_n += len(pred)
    prec = tp / max(1, tp + fp)
    rec = tp / max(1, tp + fn)
    f1 = 0.0 if tp == 0 else 2 * prec * rec / (prec + rec)
    return model, steps, losses, {"entity_precision": prec, "entity_recall": rec, "entity_f1": f1,
                                  "word_accuracy": tok_ok / tok_n}


def qa_features(tok, paras, train):
    """transformers run_qa preprocessing: question first, context second, truncation="only_second",
    return_overflowing_tokens with stride = overlapping tokens; a window without the whole answer points at [CLS]."""
    feats = []
    for para in paras:
        for q in para["qas"]:
            e = tok(q["question"], para["context"], truncation="only_second", max_length=MAX_POS,
                    stride=RECIPE["qa_doc_stride"], return_overflowing_tokens=True, return_offsets_mapping=True)
            a = q["answers"][0]
            for i in range(len(e["input_ids"])):
                f = {k: e[k][i] for k in MODEL_INPUTS}
                if train:
                    s, t = char_span_to_tokens(e, i, a["answer_start"], a["answer_start"] + len(a["text"]))
                    f["start_positions"], f["end_positions"] = s, t
                else:
                    f["id"] = q["id"]
                    f["offsets"] = [o if sid == 1 else None for o, sid in zip(e["offset_mapping"][i], e.sequence_ids(i))]
                    f["context"] = para["context"]
                feats.append(f)
    return feats


def normalize_answer(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(pred, gold):
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    pr, rc = same / len(p), same / len(g)
    return 2 * pr * rc / (pr + rc)


def best_span(start, end, offsets, max_len):
    best = None
    for s in range(len(offsets)):
        if offsets[s] is None:
            continue
        for e in range(s, min(len(offsets), s + max_len)):
            if offsets[e] is None:
                continue
            sc = start[s] + end[e]
            if best is None or sc > best[0]:
                best = (sc, offsets[s][0], offsets[e][1])
    return best


def learn_qa(tok, train, evals, shuffle_seed):
    model = BertForQuestionAnswering.from_pretrained(str(OUT / "qa"), attn_implementation="eager")
    feats = qa_features(tok, train, True)
    steps, losses = fit("qa", model, feats, pad_collate(tok), shuffle_seed)
    best = {}
    with torch.no_grad():
        for f in qa_features(tok, evals, False):
            b = {k: torch.tensor([f[k]], dtype=torch.int64) for k in MODEL_INPUTS}
            out = model(**b)
            cand = best_span(out.start_logits[0].tolist(), out.end_logits[0].tolist(), f["offsets"],
                             RECIPE["qa_max_answer_length"])
            if cand is not None and (f["id"] not in best or cand[0] > best[f["id"]][0]):
                best[f["id"]] = (cand[0], f["context"][cand[1]:cand[2]])
    em = f1 = 0.0
    n = 0
    for para in evals:
        for q in para["qas"]:
            pred = best.get(q["id"], (0, ""))[1]
            gold = q["answers"][0]["text"]
            em += normalize_answer(pred) == normalize_answer(gold)
            f1 += squad_f1(pred, gold)
            n += 1
    return model, steps, losses, {"exact_match": 100 * em / n, "f1": 100 * f1 / n, "questions": n,
                                  "train_features": len(feats)}


PIPELINE_INPUTS = {
    "pair": [{"text": "the king went to paris .", "text_pair": "the king went to paris"},
             {"text": "my mother ate the bread .", "text_pair": "my mother did not eat the bread"},
             {"text": "the boy walked home at night .", "text_pair": "the queen told the truth"}],
    "ner": ["queen pride lived in new england .", "the people of paris called prince dear .",
            "lady fortune walked from london town to france ."],
    "qa": [{"question": "where did prince dear live ?",
            "context": "prince dear read a long letter in the morning . prince dear lived in london town ."},
           {"question": "who did lady pride marry ?",
            "context": "lady pride lived in paris . lady pride married king fortune ."}],
}


def run_pipelines(dirs):
    res = {}
    clf = pipeline("text-classification", model=str(dirs["pair"]), tokenizer=str(dirs["pair"]), device="cpu", top_k=None)
    res["text-classification"] = {"model": str(dirs["pair"].relative_to(REPO)), "call": "top_k=None",
                                  "inputs": PIPELINE_INPUTS["pair"],
                                  "outputs": fc.plain([clf(x) for x in PIPELINE_INPUTS["pair"]])}
    ner = pipeline("token-classification", model=str(dirs["ner"]), tokenizer=str(dirs["ner"]), device="cpu",
                   aggregation_strategy="simple")
    res["token-classification"] = {"model": str(dirs["ner"].relative_to(REPO)), "call": "aggregation_strategy=simple",
                                   "inputs": PIPELINE_INPUTS["ner"],
                                   "outputs": fc.plain([ner(x) for x in PIPELINE_INPUTS["ner"]])}
    qa_model = BertForQuestionAnswering.from_pretrained(str(dirs["qa"]), attn_implementation="eager").eval()
    qa_tok = BertTokenizerFast.from_pretrained(str(dirs["qa"]))
    res["question-answering"] = {
        "model": str(dirs["qa"].relative_to(REPO)),
        "call": "transformers 4.x QuestionAnsweringPipeline algorithm (removed in 5.x; re-implemented in "
                "scripts/make_finetune_fixtures.py qa_pipeline): max_seq_len 64, doc_stride 32, max_answer_len 15, "
                "top_k 1, handle_impossible_answer false, align_to_words true",
        "inputs": PIPELINE_INPUTS["qa"],
        "outputs": [qa_pipeline(qa_model, qa_tok, **x) for x in PIPELINE_INPUTS["qa"]]}
    return res


def qa_pipeline(model, tok, question, context, max_seq_len=MAX_POS, doc_stride=32, max_answer_len=15, top_k=1):
    """transformers 4.x `pipeline("question-answering")` (fast tokenizer, right padding), which transformers 5 removed;
    its span selection (`select_starts_ends`) still ships with the document-question-answering pipeline. Per window:
    softmax of start and end logits over the context tokens and [CLS] only, [CLS] then zeroed, best span by
    p_start * p_end with end >= start and length <= max_answer_len; the token span is widened to whole words
    (token_to_word, word_to_chars); the best of all windows wins."""
    from transformers.pipelines.document_question_answering import select_starts_ends

    enc = tok(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
              return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest")
    answers = []
    for i in range(len(enc["input_ids"])):
        seq = enc.sequence_ids(i)
        p_mask = [0 if (s == 1 or t == tok.cls_token_id) else 1 for s, t in zip(seq, enc["input_ids"][i])]
        kw = {k: torch.tensor([enc[k][i]], dtype=torch.int64) for k in MODEL_INPUTS}
        with torch.no_grad():
            out = model(**kw)
        starts, ends, scores, _ = select_starts_ends(
            out.start_logits.numpy(), out.end_logits.numpy(), np.array([p_mask]), np.array([enc["attention_mask"][i]]),
            top_k=top_k, handle_impossible_answer=False, max_answer_len=max_answer_len)
        e_ = enc.encodings[i]
        for s, e, sc in zip(starts, ends, scores):
            a = e_.word_to_chars(e_.token_to_word(int(s)), 1)[0]
            b = e_.word_to_chars(e_.token_to_word(int(e)), 1)[1]
            answers.append({"score": float(sc), "start": int(a), "end": int(b), "answer": context[a:b]})
    answers.sort(key=lambda x: -x["score"])
    return answers[0] if top_k == 1 else answers[:top_k]


# ----------------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-train", action="store_true", help="skip the learnability runs, trained/ and pipelines.json")
    args = ap.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizerFast.from_pretrained(str(TINY_BERT))
    V = tok.vocab_size
    assert V == 324

    summary = []
    batches = {"seq-cls": seq_cls_batch, "seq-reg": seq_reg_batch, "token-cls": token_cls_batch, "qa": qa_batch}
    for task in ("seq-cls", "seq-reg", "token-cls", "qa"):
        model = mf.build_model(MODEL_CLASS[task], task_config(V, task), seed=SEEDS[task])
        d = OUT / task
        save_task_dir(model, d)
        batch = batches[task](tok)
        fc.check_reload(MODEL_CLASS[task], d, model, {k: batch[k] for k in MODEL_INPUTS})
        reload_tok = BertTokenizerFast.from_pretrained(str(d))
        assert reload_tok.model_max_length == MAX_POS
        t, named = reference(task, model, batch)
        fc.save_tensors(OUT / f"{task}-reference.safetensors", t)
        acc = grad_accuracy(task, model, batch, t)
        keys = list(load_file(str(d / "model.safetensors")).keys())
        summary.append((task, batch, t, named, keys, acc))

    data = make_datasets(tok)

    learn = None
    if not args.no_train:
        dirs = {"pair": OUT / "trained" / "pair", "ner": OUT / "trained" / "ner", "qa": OUT / "trained" / "qa"}
        learn = {"recipe": RECIPE, "tasks": {}}
        for name, fn, start in (("pair", learn_pair, "seq-cls"), ("ner", learn_ner, "token-cls"), ("qa", learn_qa, "qa")):
            model, steps, losses, metrics = fn(tok, *data[name], 7)
            save_task_dir(model, dirs[name])
            # the same recipe with other shuffle orders: how much the eval metric moves
            others = {str(sd): fn(tok, *data[name], sd)[3] for sd in (107, 207)}
            learn["tasks"][name] = {"start_model": f"tests/fixtures/finetune/{start}",
                                    "train": f"tests/fixtures/finetune/{name}-train.{ {'pair': 'tsv', 'ner': 'jsonl', 'qa': 'json'}[name]}",
                                    "steps": steps, "first_loss": losses[0], "last_loss": losses[-1],
                                    "eval": metrics, "eval_other_shuffle_seeds": others}
        write_json(OUT / "learnability.json", learn)
        write_json(OUT / "pipelines.json", run_pipelines(dirs))

    # Summary
    fc.print_header("make_finetune_fixtures")
    for task, batch, t, named, keys, (g_abs, g_rel, key_bias, loss64) in summary:
        print(f"{task}: {len(keys)} keys in model.safetensors, {len(named)} parameters; loss {t['loss'].item():.9g} "
              f"(float64 {loss64:.12g}); grads vs float64: max abs {g_abs:.3g}, worst rel {g_rel[1]:.3g} ({g_rel[0]}), "
              f"zero-analytically grads (key biases; qa: last LayerNorm bias, qa_outputs.bias) max |g| {key_bias:.3g}")
        for i in range(batch["input_ids"].shape[0]):
            print("    ", " ".join(tok.convert_ids_to_tokens(batch["input_ids"][i].tolist())))
        for k in ("labels", "start_positions", "end_positions"):
            if k in batch:
                print(f"     {k}: {batch[k].tolist()}")
        if task == "token-cls":
            print(fc.describe(OUT / f"{task}-reference.safetensors", 62))
    print(f"datasets: pair {len(data['pair'][0])}+{len(data['pair'][1])}, ner {len(data['ner'][0])}+{len(data['ner'][1])}, "
          f"qa {sum(len(p['qas']) for p in data['qa'][0])}+{sum(len(p['qas']) for p in data['qa'][1])} questions "
          f"({len(data['qa'][0])}+{len(data['qa'][1])} contexts); longest pair {data['lens']['pair']} tokens, "
          f"ner {data['lens']['ner']}")
    if learn:
        print(json.dumps(learn["tasks"], indent=1))
    fc.print_files(OUT)


if __name__ == "__main__":
    main()
