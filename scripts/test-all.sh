#!/usr/bin/env bash
# The project's test command: formatting, the native build and its tests (GPU tests on whatever adapter
# wgpu finds; lavapipe on CI), the wasm package, and the browser test in headless Chromium.
#
# Expects what .ci/run installs (Vulkan ICD, chromium, binaryen, the wasm32 target, wasm-bindgen-cli) and
# models/all-MiniLM-L6-v2 from scripts/fetch-minilm.sh. Under CI=true a missing GPU adapter fails the GPU
# tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."

stage() {
    printf '\n==== %s ====\n' "$*"
}

# Mesa's Vulkan loader complains on every device creation when XDG_RUNTIME_DIR is unset (headless CI).
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

started=$SECONDS
stage "cargo fmt --check"
cargo fmt --check

stage "cargo build --release"
cargo build --release

stage "cargo test --release${CI:+ (CI=$CI)}"
cargo test --release

stage "scripts/build-web.sh"
scripts/build-web.sh

stage "web: npm ci"
(cd web && npm ci --no-audit --no-fund)

stage "web: npm test (headless Chromium, WebGPU on SwiftShader)"
(cd web && npm test)

stage "all tests passed in $((SECONDS - started)) s"
