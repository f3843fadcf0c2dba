"""The prologue and helpers shared by the fixture scripts (make_fixtures.py, make_train_fixtures.py,
make_finetune_fixtures.py). Not run by itself.

Import it before torch or transformers: it sets the offline environment (HF_HUB_OFFLINE=1, nothing is fetched from
a model hub) before importing them, then makes torch deterministic on one CPU thread and silences transformers.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
TINY_BERT = FIXTURES / "tiny-bert"

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_inputs(enc):
    """The model inputs of a tokenizer encoding (or a batch dict) as contiguous int64 tensors."""
    return {k: enc[k].to(torch.int64).contiguous() for k in MODEL_INPUTS}


def bias_or_layernorm(name):
    """Biases and LayerNorm weights/biases: perturbed at initialisation (make_fixtures.build_model) and left out of
    weight decay (Google's exclude list: LayerNorm, bias)."""
    return name.endswith(".bias") or ".LayerNorm." in name


def decay_groups(named, weight_decay):
    """AdamW parameter groups from (name, parameter) pairs: weight decay on all but biases and LayerNorm."""
    return [
        {"params": [p for n, p in named if not bias_or_layernorm(n)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if bias_or_layernorm(n)], "weight_decay": 0.0},
    ]


def save_tensors(path: Path, tensors):
    save_file(tensors, str(path), metadata={"format": "pt"})


def save_model_dir(model, dir_: Path, tok_dir: Path):
    dir_.mkdir(parents=True, exist_ok=True)
    for old in ("model.safetensors", "pytorch_model.bin"):
        if (dir_ / old).exists():
            (dir_ / old).unlink()
    model.save_pretrained(str(dir_), safe_serialization=True)
    if tok_dir != dir_:
        # tok_dir's vocabulary and tokenizer as relative links (one copy in the repository); its
        # tokenizer_config.json as a copy, which the caller may edit (model_max_length).
        for name in ("vocab.txt", "tokenizer.json", "special_tokens_map.json", "tokenizer_config.json"):
            dst = dir_ / name
            if dst.is_symlink() or dst.exists():
                dst.unlink()
            if name == "tokenizer_config.json":
                dst.write_bytes((tok_dir / name).read_bytes())
            else:
                os.symlink(os.path.relpath(tok_dir / name, dir_), dst)
    # generation_config.json is noise for an encoder; drop it if transformers wrote one.
    if (dir_ / "generation_config.json").exists():
        (dir_ / "generation_config.json").unlink()


def check_reload(cls, dir_: Path, model, inputs):
    """Load the saved directory with transformers and check the outputs are bit-identical."""
    re = cls.from_pretrained(str(dir_), attn_implementation="eager").eval()
    with torch.no_grad():
        a = model(**inputs, output_hidden_states=True, return_dict=True)
        b = re(**inputs, output_hidden_states=True, return_dict=True)
    for x, y in zip(a.hidden_states, b.hidden_states):
        assert torch.equal(x, y), f"reload mismatch for {dir_}"
    if hasattr(a, "prediction_logits"):
        assert torch.equal(a.prediction_logits, b.prediction_logits)
        assert torch.equal(a.seq_relationship_logits, b.seq_relationship_logits)


def plain(x):
    """Pipeline output as plain JSON values (tensors and numpy scalars become Python numbers)."""
    if isinstance(x, list):
        return [plain(y) for y in x]
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if hasattr(x, "item"):
        return x.item()
    return x


# ----------------------------------------------------------------------------------------------------------
# Summaries (printed, not written)
# ----------------------------------------------------------------------------------------------------------


def print_header(script):
    print(f"== {script} summary ==")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")


def describe(path: Path, width, dtype_width=4):
    """One line per tensor of a safetensors file: name, dtype, shape."""
    lines = []
    with safe_open(str(path), "pt") as f:
        for k in f.keys():
            sl = f.get_slice(k)
            lines.append(f"    {k:<{width}} {sl.get_dtype():<{dtype_width}} {tuple(sl.get_shape())}")
    return "\n".join(lines)


def print_files(root: Path):
    print("files:")
    for p in sorted(root.rglob("*")):
        if p.is_file():
            print(f"    {p.stat().st_size:>9}  {p.relative_to(REPO)}")
