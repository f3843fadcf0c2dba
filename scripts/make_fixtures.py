#!/usr/bin/env python3
"""Build the PyTorch/transformers reference fixtures under tests/fixtures/.

Run by a developer (never by CI); the outputs are committed:

    scripts/fetch-minilm.sh                 # once, for the MiniLM reference
    python3 scripts/make_fixtures.py [--minilm models/all-MiniLM-L6-v2] [--skip-minilm]

Needs torch (CPU is enough), transformers 5.x and safetensors. Everything is built from configs and seeds;
nothing is fetched from a model hub (HF_HUB_OFFLINE=1, set by scripts/fixture_common.py). Re-running gives
identical files.

Outputs (see tests/fixtures/README.md):
  tiny-bert/                       BertForPreTraining, gelu, HF naming (vocab.txt + tokenizer files)
  tiny-bert-reference.safetensors  inputs + every hidden state, attentions, pooled output, MLM/NSP logits
  tiny-bert-fill-mask.json         fill-mask pipeline output (top 5) on tiny-bert
  tiny-bert-gelu-new/              BertForPreTraining, gelu_new, old TF-port names (gamma/beta), no decoder
  tiny-bert-gelu-new-reference.safetensors
  tiny-bertmodel/                  bare BertModel (keys without the `bert.` prefix), with pooler
  tiny-bertmodel-reference.safetensors
  minilm-sentences.json            five sentences
  minilm-reference.safetensors     all-MiniLM-L6-v2 last hidden state + sentence embeddings
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import fixture_common as fc  # first: the offline environment, one deterministic CPU thread
from fixture_common import FIXTURES, REPO, check_reload, model_inputs, plain, save_model_dir, save_tensors

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertForPreTraining,
    BertModel,
    BertTokenizerFast,
    pipeline,
)

# ----------------------------------------------------------------------------------------------------------
# 1. Vocabulary
# ----------------------------------------------------------------------------------------------------------

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = [".", ",", "!", "?", "'", "-", ":", ";", '"', "(", ")"]
WORDS = """
the a an and or but if then so because as of in on at to from by with for about into over after before
under between through during without within against among up down out off again once here there
when where why how what which who whom whose this that these those i me my mine we us our you your he him
his she her hers it its they them their is are was were be been being am have has had having do does did
doing will would shall should can could may might must not no nor yes all any both each few more most
other some such only own same than too very just also now never always often still even much many well
man woman men women king queen prince princess boy girl child children baby father mother son daughter
brother sister husband wife friend family people person lady gentleman
fortune truth single possession good bad great small large little long short old new young first last
high low right left best better true false happy sad rich poor fine dear
want wants love loves like know think see say said make made take took come came go went get got give
gave find found tell told ask asked feel felt seem leave left call called live lived run ran eat ate read
walk talk speak spoke marry married play work
universally acknowledged paris capital france city house home town country world london england
pride prejudice sense sensibility time year day night morning life way thing things man's
food bread water wine tea coffee horse dog cat car book letter word words name money heart mind eye eyes
hand hands head face door room table window road garden
one two three four five ten hundred
""".split()
PIECES = ["##s", "##ed", "##ing", "##ly", "##er", "##est", "##es", "##d"]


def build_vocab():
    words = []
    seen = set(SPECIALS)
    for w in WORDS + PUNCT:
        # BERT's basic tokenizer splits punctuation off, so a vocabulary word never contains it.
        if any(not c.isalnum() for c in w) and len(w) > 1:
            continue
        if w not in seen:
            seen.add(w)
            words.append(w)
    vocab = SPECIALS + words + PIECES
    assert len(vocab) == len(set(vocab))
    return vocab


def write_tokenizer(dir_: Path, vocab):
    dir_.mkdir(parents=True, exist_ok=True)
    (dir_ / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        # transformers 5 dropped the `vocab_file=` constructor argument (it is silently ignored, giving a
        # 5-token vocabulary); pass the vocabulary itself, and cross-check against loading vocab.txt alone.
        tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True, model_max_length=32)
        tok.save_pretrained(tmp)
        for name in sorted(os.listdir(tmp)):
            if name != "vocab.txt":  # keep ours (identical content when written)
                shutil.copyfile(Path(tmp) / name, dir_ / name)
    # transformers 5 no longer writes special_tokens_map.json; older loaders still look for it.
    (dir_ / "special_tokens_map.json").write_text(
        json.dumps({"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
                    "unk_token": "[UNK]"}, indent=2) + "\n", encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(dir_ / "vocab.txt", Path(tmp) / "vocab.txt")
        from_txt = BertTokenizerFast.from_pretrained(tmp, do_lower_case=True)
        assert from_txt.convert_ids_to_tokens(list(range(len(vocab)))) == vocab, "vocab.txt-only load"
    # Round trip.
    tok2 = BertTokenizerFast.from_pretrained(str(dir_))
    assert tok2.convert_ids_to_tokens(list(range(len(vocab)))) == vocab, "vocab round trip"
    sample = "The Kings love a QUEEN, truly!"
    a = tok(sample)["input_ids"]
    b = tok2(sample)["input_ids"]
    c = from_txt(sample)["input_ids"]
    assert a == b == c, (a, b, c)
    assert tok2.convert_ids_to_tokens(b) == [
        "[CLS]", "the", "king", "##s", "love", "a", "queen", ",", "[UNK]", "!", "[SEP]"
    ], tok2.convert_ids_to_tokens(b)
    return tok2


# ----------------------------------------------------------------------------------------------------------
# 2-4. Tiny models
# ----------------------------------------------------------------------------------------------------------


def tiny_config(vocab_size, hidden_act, architectures):
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        type_vocab_size=2,
        hidden_act=hidden_act,
        layer_norm_eps=1e-12,
        initializer_range=0.2,
        hidden_dropout_prob=0.1,  # the recipe's values; eval() turns dropout off
        attention_probs_dropout_prob=0.1,
        pad_token_id=0,
        tie_word_embeddings=True,
        architectures=architectures,
    )


def build_model(cls, config, seed):
    torch.manual_seed(seed)
    config._attn_implementation = "eager"
    model = cls(config)
    assert model.config._attn_implementation == "eager"
    model.eval()
    # Perturb every bias and every LayerNorm weight/bias (noise std 0.1) with a separate seeded generator so
    # that a dropped bias or LayerNorm affine shows up in the outputs.
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        seen = set()
        for name, p in sorted(model.named_parameters(remove_duplicate=False), key=lambda kv: kv[0]):
            if id(p) in seen or not fc.bias_or_layernorm(name):
                continue
            seen.add(id(p))
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1)
    if hasattr(model, "cls"):
        dec = model.cls.predictions.decoder
        assert dec.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr(), "decoder not tied"
        assert dec.bias is None or dec.bias.data_ptr() == model.cls.predictions.bias.data_ptr()
    return model


def make_inputs(tok):
    # [CLS] A [SEP] B [SEP]; sequence 0 fills all 11 positions (with a ## piece and an [UNK]),
    # sequence 1 has 7 real tokens and 4 [PAD].
    a = ["the kings love [MASK]", "paris is"]
    b = ["it is qwerty", "a [MASK]"]
    enc = tok(a, b, padding=True, return_tensors="pt", return_token_type_ids=True, return_attention_mask=True)
    toks = [tok.convert_ids_to_tokens(r) for r in enc["input_ids"].tolist()]
    assert toks[0] == ["[CLS]", "the", "king", "##s", "love", "[MASK]", "[SEP]", "it", "is", "[UNK]", "[SEP]"], toks[0]
    assert toks[1] == ["[CLS]", "paris", "is", "[SEP]", "a", "[MASK]", "[SEP]"] + ["[PAD]"] * 4, toks[1]
    assert enc["attention_mask"].tolist() == [[1] * 11, [1] * 7 + [0] * 4]
    assert enc["token_type_ids"].tolist() == [[0] * 7 + [1] * 4, [0] * 4 + [1] * 3 + [0] * 4]
    return model_inputs(enc)


def reference_tensors(model, inputs, pretraining):
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, output_attentions=True, return_dict=True)
        bert_out = (model.bert if pretraining else model)(
            **inputs, output_hidden_states=True, output_attentions=True, return_dict=True
        )
    t = dict(inputs)
    hs = out.hidden_states
    for i, h in enumerate(hs):
        t[f"hidden_states.{i}"] = h
    t["pooled_output"] = bert_out.pooler_output
    if pretraining:
        t["mlm_logits"] = out.prediction_logits
        t["nsp_logits"] = out.seq_relationship_logits
        for i, a in enumerate(out.attentions):
            t[f"attentions.{i}"] = a
        # The pretraining head computes from the same encoder output.
        assert torch.equal(bert_out.last_hidden_state, hs[-1])
    return {k: v.detach().contiguous().clone() for k, v in t.items()}


def to_old_names(state):
    out = {}
    for k, v in state.items():
        # The decoder is tied to the word embeddings and its bias is cls.predictions.bias (TF's output_bias):
        # an old TF-port checkpoint carries neither.
        if k in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"):
            continue
        if k.endswith("LayerNorm.weight"):
            k = k[: -len("weight")] + "gamma"
        elif k.endswith("LayerNorm.bias"):
            k = k[: -len("bias")] + "beta"
        out[k] = v.detach().contiguous().clone()
    return out


# ----------------------------------------------------------------------------------------------------------
# 5. MiniLM
# ----------------------------------------------------------------------------------------------------------

MINILM_SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "Café au lait in PARIS",
]


def make_minilm(model_dir: Path):
    (FIXTURES / "minilm-sentences.json").write_text(
        json.dumps(MINILM_SENTENCES, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    enc = tok(MINILM_SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    inputs = model_inputs(enc)
    with torch.no_grad():
        h = model(**inputs, return_dict=True).last_hidden_state
    m = inputs["attention_mask"].unsqueeze(-1).to(h.dtype)
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    emb = F.normalize(pooled, p=2, dim=1)
    t = {
        "input_ids": inputs["input_ids"],
        "attention_mask": inputs["attention_mask"],
        "last_hidden_state": h.contiguous(),
        "sentence_embeddings": emb.contiguous(),
    }
    save_tensors(FIXTURES / "minilm-reference.safetensors", t)
    toks = [tok.convert_ids_to_tokens(r) for r in inputs["input_ids"].tolist()]
    sim = emb @ emb.T
    return t, toks, sim


# ----------------------------------------------------------------------------------------------------------
# 6. fill-mask
# ----------------------------------------------------------------------------------------------------------

FILL_MASK_TEXTS = [
    "it is a truth universally acknowledged that a single man must be in want of a [MASK] .",
    "the [MASK] of france is [MASK] .",
]


def make_fill_mask(model_dir: Path, model, tok):
    fm = pipeline("fill-mask", model=str(model_dir), tokenizer=str(model_dir), top_k=5, device="cpu")
    result = {}
    for text in FILL_MASK_TEXTS:
        r = plain(fm(text))
        result[text] = r
        # Cross-check against BertForPreTraining's own prediction logits (the pipeline loads the same file as
        # BertForMaskedLM; a missing key would have been initialised at random).
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            probs = model(**enc).prediction_logits[0].softmax(-1)
        masked = (enc["input_ids"][0] == tok.mask_token_id).nonzero().flatten().tolist()
        per_mask = [r] if len(masked) == 1 else r
        assert len(per_mask) == len(masked)
        for pos, preds in zip(masked, per_mask):
            top = probs[pos].topk(5)
            assert [p["token"] for p in preds] == top.indices.tolist(), (text, preds, top)
            assert torch.allclose(torch.tensor([p["score"] for p in preds]), top.values, rtol=1e-5, atol=1e-7)
    (FIXTURES / "tiny-bert-fill-mask.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return result


# ----------------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minilm", default=str(REPO / "models" / "all-MiniLM-L6-v2"),
                    help="all-MiniLM-L6-v2 directory (scripts/fetch-minilm.sh); default models/all-MiniLM-L6-v2")
    ap.add_argument("--skip-minilm", action="store_true", help="do not (re)write the MiniLM fixtures")
    args = ap.parse_args()

    FIXTURES.mkdir(parents=True, exist_ok=True)
    summary = []

    # 1. vocabulary + tokenizer
    tok_dir = FIXTURES / "tiny-bert"
    vocab = build_vocab()
    tok = write_tokenizer(tok_dir, vocab)
    V = len(vocab)
    summary.append(f"vocab: {V} tokens -> {tok_dir.relative_to(REPO)}/vocab.txt (+ tokenizer files)")
    inputs = make_inputs(tok)

    # 2. Model A
    a_dir = FIXTURES / "tiny-bert"
    model_a = build_model(BertForPreTraining, tiny_config(V, "gelu", ["BertForPreTraining"]), seed=1234)
    save_model_dir(model_a, a_dir, tok_dir)
    check_reload(BertForPreTraining, a_dir, model_a, inputs)
    keys_a = list(load_file(str(a_dir / "model.safetensors")).keys())
    decoder_in_a = "cls.predictions.decoder.weight" in keys_a
    save_tensors(FIXTURES / "tiny-bert-reference.safetensors", reference_tensors(model_a, inputs, True))

    # 3. Model B: gelu_new, old gamma/beta names, no decoder weight
    b_dir = FIXTURES / "tiny-bert-gelu-new"
    model_b = build_model(BertForPreTraining, tiny_config(V, "gelu_new", ["BertForPreTraining"]), seed=5678)
    save_model_dir(model_b, b_dir, tok_dir)
    old = to_old_names(model_b.state_dict())
    save_tensors(b_dir / "model.safetensors", old)
    keys_b = list(load_file(str(b_dir / "model.safetensors")).keys())
    assert "cls.predictions.decoder.weight" not in keys_b and "cls.predictions.decoder.bias" not in keys_b
    assert not any(k.endswith("LayerNorm.weight") or k.endswith("LayerNorm.bias") for k in keys_b)
    assert "bert.embeddings.LayerNorm.gamma" in keys_b and "cls.predictions.transform.LayerNorm.beta" in keys_b
    try:
        check_reload(BertForPreTraining, b_dir, model_b, inputs)
        b_reload = "transformers loads it (gamma/beta renamed on load) and reproduces the outputs"
    except Exception as e:  # informational only
        b_reload = f"transformers did NOT reload it cleanly: {type(e).__name__}: {e}"
    save_tensors(FIXTURES / "tiny-bert-gelu-new-reference.safetensors", reference_tensors(model_b, inputs, True))

    # 4. Model C: bare BertModel with pooler
    c_dir = FIXTURES / "tiny-bertmodel"
    model_c = build_model(BertModel, tiny_config(V, "gelu", ["BertModel"]), seed=9012)
    assert model_c.pooler is not None
    save_model_dir(model_c, c_dir, tok_dir)
    check_reload(BertModel, c_dir, model_c, inputs)
    keys_c = list(load_file(str(c_dir / "model.safetensors")).keys())
    assert not any(k.startswith("bert.") for k in keys_c), keys_c
    assert "embeddings.word_embeddings.weight" in keys_c and "pooler.dense.weight" in keys_c
    assert json.loads((c_dir / "config.json").read_text())["architectures"] == ["BertModel"]
    save_tensors(FIXTURES / "tiny-bertmodel-reference.safetensors", reference_tensors(model_c, inputs, False))

    # 6. fill-mask on model A
    fill = make_fill_mask(a_dir, model_a, tok)

    # 5. MiniLM
    minilm = None
    if not args.skip_minilm:
        mdir = Path(args.minilm)
        if not (mdir / "model.safetensors").exists():
            sys.exit(f"error: {mdir}/model.safetensors not found; run scripts/fetch-minilm.sh "
                     f"(or pass --minilm DIR, or --skip-minilm)")
        minilm = make_minilm(mdir)

    # Summary
    fc.print_header("make_fixtures")
    for s in summary:
        print(s)
    print(f"model A keys ({len(keys_a)}): decoder weight {'PRESENT' if decoder_in_a else 'ABSENT'} in file")
    print(f"model B keys ({len(keys_b)}): {keys_b[:4]} ...; {b_reload}")
    print(f"model C keys ({len(keys_c)}): {keys_c[:6]} ...")
    print("input tokens:")
    for r in inputs["input_ids"].tolist():
        print("   ", tok.convert_ids_to_tokens(r))
    for name in ("tiny-bert-reference", "tiny-bert-gelu-new-reference", "tiny-bertmodel-reference",
                 "minilm-reference"):
        p = FIXTURES / f"{name}.safetensors"
        if p.exists():
            print(f"{p.relative_to(REPO)}:")
            print(fc.describe(p, 40, 5))
    for text, r in fill.items():
        flat = r if isinstance(r[0], dict) else [x for xs in r for x in xs]
        print(f"fill-mask {text!r}: " + ", ".join(f"{x['token_str']}={x['score']:.3f}" for x in flat))
    if minilm is not None:
        _, toks, sim = minilm
        for t in toks:
            print("    minilm:", t)
        print("minilm cosine similarity:\n", sim.numpy().round(4))
    fc.print_files(FIXTURES)


if __name__ == "__main__":
    main()
