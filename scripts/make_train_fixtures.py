#!/usr/bin/env python3
"""Build the PyTorch/transformers training fixtures under tests/fixtures/train/ (backward pass + optimizers).

Run by a developer (never by CI); the outputs are committed:

    python3 scripts/make_train_fixtures.py

Needs torch (CPU is enough), transformers 5.x and safetensors, and tests/fixtures/tiny-bert/ (written by
scripts/make_fixtures.py; its tokenizer files are copied and its weights are checked to be identical). Nothing is
fetched from a model hub (HF_HUB_OFFLINE=1). Re-running gives identical files.

Outputs (see tests/fixtures/train/README.md):
  tiny-pretrain/                             BertForPreTraining, tiny-bert's weights, dropout 0.0
  tiny-pretrain-grads.safetensors            one MLM+NSP batch: inputs, losses, grad.<param> for every parameter
  tiny-pretrain-adamw.json                   10 steps of torch AdamW and of Google's AdamWeightDecay
  tiny-pretrain-adamw-final.safetensors      a few parameters after those 10 steps
"""

import copy
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_common as fc  # noqa: E402  (first: the offline environment, one deterministic CPU thread)
from fixture_common import FIXTURES, REPO, TINY_BERT  # noqa: E402
import make_fixtures as mf  # noqa: E402  (vocabulary, tiny config, seeded init + bias/LayerNorm perturbation)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import BertForPreTraining, BertTokenizerFast, get_linear_schedule_with_warmup  # noqa: E402

OUT = FIXTURES / "train"
MODEL_DIR = OUT / "tiny-pretrain"

SEED = 1234  # the seed of tests/fixtures/tiny-bert, so the weights are the same as that model's

# Optimizer recipe.
LR = 1e-3
BETAS = (0.9, 0.999)
WEIGHT_DECAY = 0.01
CLIP = 1.0
WARMUP = 3
TOTAL = 10
TORCH_EPS = 1e-8
GOOGLE_EPS = 1e-6
FINAL_PARAMS = [
    "bert.embeddings.word_embeddings.weight",
    "bert.encoder.layer.1.output.dense.weight",
    "cls.predictions.bias",
    "bert.embeddings.LayerNorm.weight",
]

# ----------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------


def build_model(vocab_size):
    config = mf.tiny_config(vocab_size, "gelu", ["BertForPreTraining"])
    config.hidden_dropout_prob = 0.0  # train mode is then deterministic
    config.attention_probs_dropout_prob = 0.0
    model = mf.build_model(BertForPreTraining, config, seed=SEED)  # eager attention, tied decoder checked
    # Same init + perturbation as tiny-bert (dropout has no parameters and draws nothing at init).
    ref = load_file(str(TINY_BERT / "model.safetensors"))
    state = model.state_dict()
    for k, v in ref.items():
        assert torch.equal(state[k], v), f"{k} differs from tests/fixtures/tiny-bert (regenerate both?)"
    return model


# ----------------------------------------------------------------------------------------------------------
# Batch
# ----------------------------------------------------------------------------------------------------------

SEGMENTS_A = ["the kings love the queen", "paris is capital", "i ran"]
SEGMENTS_B = ["she is happy", "the dog ran", "home"]
EXPECTED_TOKENS = [
    ["[CLS]", "the", "king", "##s", "love", "the", "queen", "[SEP]", "she", "is", "happy", "[SEP]"],
    ["[CLS]", "paris", "is", "capital", "[SEP]", "the", "dog", "ran", "[SEP]"] + ["[PAD]"] * 3,
    ["[CLS]", "i", "ran", "[SEP]", "home", "[SEP]"] + ["[PAD]"] * 6,
]
# (sequence, position, what the input becomes): 80/10/10 in miniature over the batch's 8 predictions:
# 6 -> [MASK], 1 -> a random token (drawn below with a seeded generator), 1 kept as the original token.
MASKING = [
    (0, 2, "mask"),    # king
    (0, 6, "random"),  # queen
    (0, 9, "mask"),    # is
    (1, 1, "mask"),    # paris
    (1, 3, "mask"),    # capital
    (1, 6, "keep"),    # dog
    (2, 2, "mask"),    # ran
    (2, 4, "mask"),    # home
]
NEXT_SENTENCE_LABEL = [0, 1, 0]  # 0 = B continues A, 1 = B is random


def make_batch(tok):
    enc = tok(SEGMENTS_A, SEGMENTS_B, padding="max_length", max_length=12, return_tensors="pt",
              return_token_type_ids=True, return_attention_mask=True)
    original = enc["input_ids"].to(torch.int64)
    toks = [tok.convert_ids_to_tokens(r) for r in original.tolist()]
    assert toks == EXPECTED_TOKENS, toks
    assert enc["attention_mask"].tolist() == [[1] * 12, [1] * 9 + [0] * 3, [1] * 6 + [0] * 6]
    assert enc["token_type_ids"].tolist() == [
        [0] * 8 + [1] * 4, [0] * 5 + [1] * 4 + [0] * 3, [0] * 4 + [1] * 2 + [0] * 6]
    input_ids = original.clone()
    labels = torch.full_like(original, -100)
    n_special = len(mf.SPECIALS)  # [PAD] [UNK] [CLS] [SEP] [MASK] are ids 0..4
    g = torch.Generator().manual_seed(SEED + 2000)
    for s, p, how in MASKING:
        orig = int(original[s, p])
        assert orig >= n_special, (s, p)
        labels[s, p] = orig
        if how == "mask":
            input_ids[s, p] = tok.mask_token_id
        elif how == "random":
            while True:  # create_pretraining_data draws any vocabulary word; avoid specials and a no-op
                r = int(torch.randint(n_special, tok.vocab_size, (1,), generator=g))
                if r != orig:
                    break
            input_ids[s, p] = r
        else:
            assert how == "keep"
    return {
        "input_ids": input_ids.contiguous(),
        "attention_mask": enc["attention_mask"].to(torch.int64).contiguous(),
        "token_type_ids": enc["token_type_ids"].to(torch.int64).contiguous(),
        "labels": labels.contiguous(),
        "next_sentence_label": torch.tensor(NEXT_SENTENCE_LABEL, dtype=torch.int64),
    }


def losses(model, batch):
    out = model(**batch, return_dict=True)
    V = out.prediction_logits.shape[-1]
    mlm = F.cross_entropy(out.prediction_logits.reshape(-1, V), batch["labels"].reshape(-1), ignore_index=-100)
    nsp = F.cross_entropy(out.seq_relationship_logits.reshape(-1, 2), batch["next_sentence_label"].reshape(-1))
    total = mlm + nsp
    tol = 1e-12 if total.dtype == torch.float64 else 1e-6
    a, b = total.item(), out.loss.item()
    assert abs(a - b) <= tol * max(1.0, abs(a)), (a, b)
    return out.loss, mlm, nsp, out


# ----------------------------------------------------------------------------------------------------------
# Optimizers
# ----------------------------------------------------------------------------------------------------------


class GoogleAdamWeightDecay(torch.optim.Optimizer):
    """BERT's optimization.py AdamWeightDecayOptimizer: Adam without bias correction, decoupled weight decay
    added to the update (not multiplied into the parameter), eps outside the square root.

        m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
        update = m / (sqrt(v) + eps);  if decayed: update += weight_decay * param
        param -= lr * update
    """

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is None
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                st = self.state[p]
                if not st:
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                m, v = st["m"], st["v"]
                m.mul_(b1).add_(g, alpha=1.0 - b1)
                v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                update = m / (v.sqrt() + group["eps"])
                if group["weight_decay"] != 0.0:
                    update = update + group["weight_decay"] * p
                p.sub_(group["lr"] * update)


def param_groups(model):
    # unique parameters: the tied decoder weight/bias appear once
    return fc.decay_groups(list(model.named_parameters()), WEIGHT_DECAY)


def train(kind, batch, dtype=torch.float32):
    model = BertForPreTraining.from_pretrained(str(MODEL_DIR), attn_implementation="eager").to(dtype)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    model.train()
    if kind == "torch_adamw":
        opt = torch.optim.AdamW(param_groups(model), lr=LR, betas=BETAS, eps=TORCH_EPS, weight_decay=WEIGHT_DECAY,
                                foreach=False, fused=False)
        eps = TORCH_EPS
    else:
        opt = GoogleAdamWeightDecay(param_groups(model), lr=LR, betas=BETAS, eps=GOOGLE_EPS,
                                    weight_decay=WEIGHT_DECAY)
        eps = GOOGLE_EPS
    sched = get_linear_schedule_with_warmup(opt, WARMUP, TOTAL)
    params = [p for _, p in model.named_parameters()]
    steps = []
    for _ in range(TOTAL):
        opt.zero_grad(set_to_none=True)
        loss, mlm, nsp, _ = losses(model, batch)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, CLIP, foreach=False)
        lr = opt.param_groups[0]["lr"]
        assert all(g["lr"] == lr for g in opt.param_groups)
        opt.step()
        sched.step()
        steps.append({"loss": loss.item(), "mlm_loss": mlm.item(), "nsp_loss": nsp.item(),
                      "grad_norm": norm.item(), "lr": float(lr)})
    model.eval()
    with torch.no_grad():
        final_loss, final_mlm, final_nsp, _ = losses(model, batch)
    rec = {
        "optimizer": ("torch.optim.AdamW (bias-corrected; param *= 1 - lr*wd, then Adam step)"
                      if kind == "torch_adamw" else
                      "Google AdamWeightDecay (no bias correction; update = m/(sqrt(v)+eps) + wd*param)"),
        "lr": LR, "betas": list(BETAS), "warmup": WARMUP, "total": TOTAL, "weight_decay": WEIGHT_DECAY,
        "eps": eps, "clip": CLIP,
        "no_decay": "names ending in .bias or containing .LayerNorm.",
        "steps": steps,
        "final_loss": float(final_loss), "final_mlm_loss": float(final_mlm), "final_nsp_loss": float(final_nsp),
    }
    state = dict(model.named_parameters())
    final = {n: state[n].detach().contiguous().clone() for n in FINAL_PARAMS}
    return rec, final


# ----------------------------------------------------------------------------------------------------------
# Finite differences
# ----------------------------------------------------------------------------------------------------------


def finite_difference_check(model, batch, grads32):
    m64 = copy.deepcopy(model).double().train()
    assert m64.cls.predictions.decoder.weight is m64.bert.embeddings.word_embeddings.weight
    named = dict(m64.named_parameters())
    m64.zero_grad(set_to_none=True)
    loss64, _, _, _ = losses(m64, batch)
    loss64.backward()
    # float32 autograd against float64 autograd, over every parameter. The attention key biases are skipped in
    # the relative figure: their gradient is exactly 0 in exact arithmetic (q.b_k is the same for every key of a
    # query row, and softmax ignores a per-row constant), so float32 gives rounding noise around 0.
    worst_abs, worst_rel, key_bias_max = 0.0, ("", 0.0), 0.0
    for n, p in named.items():
        d = (grads32[n].double() - p.grad).abs().max().item()
        worst_abs = max(worst_abs, d)
        if n.endswith("attention.self.key.bias"):
            key_bias_max = max(key_bias_max, p.grad.abs().max().item(), grads32[n].abs().max().item())
            continue
        rel = d / p.grad.abs().max().item()
        if rel > worst_rel[1]:
            worst_rel = (n, rel)
    g = torch.Generator().manual_seed(SEED + 3000)
    names = [n for n in named if not n.endswith("attention.self.key.bias")]
    picks = []
    for _ in range(2):
        n = names[int(torch.randint(len(names), (1,), generator=g))]
        picks.append((n, int(torch.randint(named[n].numel(), (1,), generator=g))))
    # plus one word-embedding row of a labelled token: both the input and the tied decoder path reach it
    picks.append(("bert.embeddings.word_embeddings.weight", int(batch["labels"][0, 2]) * model.config.hidden_size + 7))
    h = 1e-5
    rows = []
    with torch.no_grad():
        for n, i in picks:
            flat = named[n].view(-1)
            x0 = flat[i].item()
            flat[i] = x0 + h
            lp = losses(m64, batch)[0].item()
            flat[i] = x0 - h
            lm = losses(m64, batch)[0].item()
            flat[i] = x0
            fd = (lp - lm) / (2 * h)
            ad = named[n].grad.view(-1)[i].item()
            a32 = grads32[n].view(-1)[i].item()
            rows.append((n, i, fd, ad, a32))
            assert abs(fd - ad) <= 1e-6 * max(1.0, abs(ad)), (n, i, fd, ad)
            assert abs(a32 - ad) <= 1e-4 * max(1.0, abs(ad)), (n, i, a32, ad)
    return rows, worst_abs, worst_rel, key_bias_max, loss64.item()


# ----------------------------------------------------------------------------------------------------------


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizerFast.from_pretrained(str(TINY_BERT))
    V = tok.vocab_size
    assert V == 324 and V == len((TINY_BERT / "vocab.txt").read_text(encoding="utf-8").splitlines())

    # 1. model directory
    model = build_model(V)
    fc.save_model_dir(model, MODEL_DIR, TINY_BERT)  # save_pretrained (safetensors) + copies the tokenizer files
    cfg = json.loads((MODEL_DIR / "config.json").read_text())
    assert cfg["hidden_dropout_prob"] == 0.0 and cfg["attention_probs_dropout_prob"] == 0.0
    keys = list(load_file(str(MODEL_DIR / "model.safetensors")).keys())

    # 2. one forward + backward in train mode
    batch = make_batch(tok)
    model.train()
    fc.check_reload(BertForPreTraining, MODEL_DIR, model, {k: batch[k] for k in fc.MODEL_INPUTS})
    model.train()
    model.zero_grad(set_to_none=True)
    loss, mlm, nsp, out = losses(model, batch)
    loss.backward()
    # train mode with dropout 0 is eval mode
    with torch.no_grad():
        ev = copy.deepcopy(model).eval()
        assert torch.equal(ev(**batch).loss, loss.detach())
    named = list(model.named_parameters())
    all_named = list(model.named_parameters(remove_duplicate=False))
    aliases = sorted({n for n, _ in all_named} - {n for n, _ in named})
    grads = {n: p.grad.detach().clone() for n, p in named}
    assert all(p.grad is not None for _, p in named)
    t = dict(batch)
    t["loss"] = loss.detach().reshape(1)
    t["mlm_loss"] = mlm.detach().reshape(1)
    t["nsp_loss"] = nsp.detach().reshape(1)
    t["nsp_logits"] = out.seq_relationship_logits.detach().contiguous()
    for n, gr in grads.items():
        t[f"grad.{n}"] = gr.contiguous()
    fc.save_tensors(OUT / "tiny-pretrain-grads.safetensors", t)

    # 4. finite differences (float64 copy)
    fd_rows, g_abs, g_rel, key_bias_max, loss64 = finite_difference_check(model, batch, grads)

    # 3. optimizer runs
    rec_t, final_t = train("torch_adamw", batch)
    rec_g, final_g = train("google_adam_weight_decay", batch)
    assert rec_t["steps"][0]["loss"] == loss.item() == rec_g["steps"][0]["loss"]
    (OUT / "tiny-pretrain-adamw.json").write_text(
        json.dumps({"torch_adamw": rec_t, "google_adam_weight_decay": rec_g}, indent=2) + "\n", encoding="utf-8")
    final = dict(final_t)
    final.update({f"google_adam_weight_decay.{n}": v for n, v in final_g.items()})
    fc.save_tensors(OUT / "tiny-pretrain-adamw-final.safetensors", final)
    # How far float32 rounding moves the trajectories: the same runs in float64 (not stored).
    drift = {}
    for kind, rec, fin in (("torch_adamw", rec_t, final_t), ("google_adam_weight_decay", rec_g, final_g)):
        rec64, fin64 = train(kind, batch, torch.float64)
        dl = max(abs(a["loss"] - b["loss"]) for a, b in zip(rec["steps"], rec64["steps"]))
        dn = max(abs(a["grad_norm"] - b["grad_norm"]) for a, b in zip(rec["steps"], rec64["steps"]))
        dp = {n: (fin[n].double() - fin64[n]).abs().max().item() for n in FINAL_PARAMS}
        drift[kind] = (dl, dn, dp)

    # Summary
    fc.print_header("make_train_fixtures")
    print(f"model: {MODEL_DIR.relative_to(REPO)} ({len(keys)} keys in model.safetensors, same weights as tiny-bert; "
          f"dropout 0.0)")
    print(f"unique parameters: {len(named)}; aliases (tied, no grad entry of their own): {aliases}")
    print("batch:")
    for s in range(3):
        print("   in :", tok.convert_ids_to_tokens(batch["input_ids"][s].tolist()))
        print("   lab:", [tok.convert_ids_to_tokens(x) if x >= 0 else "." for x in batch["labels"][s].tolist()])
    print(f"   next_sentence_label {batch['next_sentence_label'].tolist()}")
    print(f"loss {loss.item():.9g} = mlm {mlm.item():.9g} + nsp {nsp.item():.9g}   (float64: {loss64:.12g})")
    print(f"float32 vs float64 autograd, all parameters: max abs diff {g_abs:.3g}; worst max|diff|/max|grad| "
          f"{g_rel[1]:.3g} ({g_rel[0]}); attention key bias grads (exactly 0 analytically) max |g| {key_bias_max:.3g}")
    for n, i, fd, ad, a32 in fd_rows:
        print(f"finite difference {n}[{i}]: fd {fd:+.10e}  autograd64 {ad:+.10e}  autograd32 {a32:+.10e}  "
              f"|fd-ad| {abs(fd - ad):.2e}")
    for name, rec in (("torch_adamw", rec_t), ("google_adam_weight_decay", rec_g)):
        print(f"{name}:")
        for k, s in enumerate(rec["steps"]):
            print(f"   step {k}: lr {s['lr']:.6e}  loss {s['loss']:.7f}  mlm {s['mlm_loss']:.7f}  "
                  f"nsp {s['nsp_loss']:.7f}  grad_norm {s['grad_norm']:.6f}")
        print(f"   after {TOTAL} steps: loss {rec['final_loss']:.7f}")
        dl, dn, dp = drift[name]
        print(f"   float32 vs float64 run: max |loss diff| {dl:.3g}, max |grad_norm diff| {dn:.3g}, final params "
              + ", ".join(f"{n} {d:.3g}" for n, d in dp.items()))
    for p in ("tiny-pretrain-grads", "tiny-pretrain-adamw-final"):
        print(f"{p}.safetensors:")
        print(fc.describe(OUT / f"{p}.safetensors", 58))
    fc.print_files(OUT)


if __name__ == "__main__":
    main()
