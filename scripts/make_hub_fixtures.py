#!/usr/bin/env python3
"""Writes tests/fixtures/hub-cache: a Hugging Face cache made by the real `huggingface_hub` package.

The hub stand-in (scripts/hub_standin.py) serves tests/fixtures/tiny-bert under the resolve layout
(`/{repo}/resolve/{revision}/{file}`, with the headers and redirects the hub sends), and
`huggingface_hub.hf_hub_download` downloads from it (HF_ENDPOINT) into the cache, as it would from the hub:
blobs by ETag, `snapshots/{commit}/` links, `refs/{branch}`. Three repositories:

- `bert-wgpu-tests/tiny-bert` at `main` and at the tag `v1`, one commit;
- `tiny-bert-sharded`: the same weights in two shards with `model.safetensors.index.json`, a `vocab.txt`
  tokenizer only;
- `bert-wgpu-tests/gone`: a snapshot whose weights blob is missing (its link is broken).

Run by developers (needs huggingface_hub):

    python3 scripts/make_hub_fixtures.py
"""
import json
import os
import shutil

import hub_standin
from hub_standin import COMMIT, ROOT, SHARDED_COMMIT, sharded_files, tiny_files

OUT = ROOT / "tests" / "fixtures" / "hub-cache"


REPOS = {
    "bert-wgpu-tests/tiny-bert": (COMMIT, tiny_files()),
    "tiny-bert-sharded": (SHARDED_COMMIT, sharded_files()),
    "bert-wgpu-tests/gone": (COMMIT, tiny_files()),
}


def main():
    server = hub_standin.start(REPOS)
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
