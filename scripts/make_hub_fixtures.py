#!/usr/bin/env python3
"""Writes tests/fixtures/hub-cache: a Hugging Face cache made by the real `huggingface_hub` package.

A hub stand-in on 127.0.0.1 serves tests/fixtures/tiny-bert under the resolve layout
(`/{repo}/resolve/{revision}/{file}`, with the `X-Repo-Commit` and `ETag` headers the hub sends), and
`huggingface_hub.hf_hub_download` downloads from it (HF_ENDPOINT) into the cache, as it would from the hub:
blobs by ETag, `snapshots/{commit}/` links, `refs/{branch}`. Three repositories:

- `bert-wgpu-tests/tiny-bert` at `main` and at the tag `v1`, one commit;
- `tiny-bert-sharded`: the same weights in two shards with `model.safetensors.index.json`, a `vocab.txt`
  tokenizer only;
- `bert-wgpu-tests/gone`: a snapshot whose weights blob is missing (its link is broken).

Run by developers (needs huggingface_hub and safetensors, e.g. with transformers installed):

    python3 scripts/make_hub_fixtures.py
"""
import hashlib
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "fixtures" / "tiny-bert"
OUT = ROOT / "tests" / "fixtures" / "hub-cache"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHARDED_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def sharded_files():
    """tiny-bert's weights in two shards and their index; vocab.txt as the only tokenizer file."""
    from safetensors.numpy import load_file, save
    tensors = load_file(str(SOURCE / "model.safetensors"))
    names = sorted(tensors)
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    files, weight_map = {}, {}
    for i, part in enumerate(halves):
        shard = f"model-{i + 1:05d}-of-00002.safetensors"
        files[shard] = save({n: tensors[n] for n in part}, metadata={"format": "pt"})
        weight_map.update({n: shard for n in part})
    index = {"metadata": {"total_size": sum(t.nbytes for t in tensors.values())}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = json.dumps(index, indent=2).encode()
    for name in ["config.json", "vocab.txt", "tokenizer_config.json"]:
        files[name] = (SOURCE / name).read_bytes()
    return files


REPOS = {
    "bert-wgpu-tests/tiny-bert": (COMMIT, {p.name: p.read_bytes() for p in SOURCE.iterdir()}),
    "tiny-bert-sharded": (SHARDED_COMMIT, sharded_files()),
    "bert-wgpu-tests/gone": (COMMIT, {p.name: p.read_bytes() for p in SOURCE.iterdir()}),
}


class Hub(http.server.BaseHTTPRequestHandler):
    def find(self):
        for repo, (commit, files) in REPOS.items():
            prefix = f"/{repo}/resolve/"
            if self.path.startswith(prefix):
                revision, _, name = self.path[len(prefix):].partition("/")
                if revision in ("main", "v1", commit) and name in files:
                    return commit, files[name]
        return None

    def answer(self, body):
        found = self.find()
        if found is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        commit, data = found
        self.send_response(200)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    from huggingface_hub import hf_hub_download  # reads HF_ENDPOINT at import

    if OUT.exists():
        shutil.rmtree(OUT)
    for repo, (_, files) in REPOS.items():
        for name in files:
            hf_hub_download(repo, name, cache_dir=OUT)
    for name in REPOS["bert-wgpu-tests/tiny-bert"][1]:
        hf_hub_download("bert-wgpu-tests/tiny-bert", name, revision="v1", cache_dir=OUT)
    # The weights blob of `gone` is deleted: its snapshot link dangles.
    gone = OUT / "models--bert-wgpu-tests--gone"
    os.remove((gone / "snapshots" / COMMIT / "model.safetensors").resolve())
    for lock in OUT.rglob(".locks"):
        shutil.rmtree(lock)
    server.shutdown()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
