#!/usr/bin/env bash
# The main job on a fresh machine: install a Vulkan driver if none is present (Mesa's lavapipe on a
# machine without a GPU), build, and fill the mask with the BERT pretrained here on Jane Austen: the
# opening line of Pride and Prejudice and three sentences of the novels. Extra arguments replace the texts.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 || ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
    if command -v apt-get >/dev/null; then
        sudo_cmd=$([[ $(id -u) -eq 0 ]] || echo sudo)
        $sudo_cmd apt-get update
        $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y mesa-vulkan-drivers libvulkan1
    fi
fi
cargo build --release --bin bert-wgpu
if (($# == 0)); then
    set -- "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a [MASK]." \
        "My dear Mr. Bennet, said his [MASK] to him one day." \
        "The ladies were sitting in the drawing [MASK]." \
        "They dined at [MASK] park."
fi
target/release/bert-wgpu fill-mask --model pretrained/austen-bert-tiny --top-k 5 "$@"
