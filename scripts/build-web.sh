#!/usr/bin/env bash
# Builds the npm package `bert-wgpu` into web/pkg: the library for wasm32 (release), JS bindings with
# wasm-bindgen, wasm-opt -Oz when a binaryen that handles externref (>= 111) is installed, then the
# hand-written module, types, README and licences from web/npm, and `npm pack` into web/dist. Prints the
# .wasm size, raw and gzipped, and fails when the gzipped module exceeds 4 MiB.
#
#   scripts/build-web.sh                                     # release build into web/pkg, package in web/dist
#   WASM_OPT=path/to/wasm-opt scripts/build-web.sh           # a newer binaryen than Debian 12's
#   SKIP_WASM_OPT=1 scripts/build-web.sh
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-unknown
out=web/pkg
wasm_in="${CARGO_TARGET_DIR:-target}/$target/release/bert_wgpu.wasm"

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }') || true
if [[ -z "$have" ]]; then
    echo "build-web: wasm-bindgen not found; install it with: cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
fi
if [[ -n "$want" && "$have" != "$want" ]]; then
    echo "build-web: wasm-bindgen CLI is $have but Cargo.lock has $want;" \
        "run: cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
fi

echo "build-web: cargo build --release --lib --target $target"
cargo build --release --lib --target "$target"

echo "build-web: wasm-bindgen --target web --out-dir $out"
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" "$wasm_in"

wasm="$out/bert_wgpu_bg.wasm"
# wasm-opt must know externref: binaryen 108 (Debian 12) rewrites wasm-bindgen's externref table as anyref
# and the module then fails at init ("WebAssembly.Table.set(): Argument 1 is invalid for table"), so older
# versions are skipped. WASM_OPT names another binary, e.g. web/node_modules/.bin/wasm-opt from npm's
# `binaryen` (checked here: 108 breaks; 111, 116 and 132 keep externref; about 30 s).
wasm_opt="${WASM_OPT:-wasm-opt}"
opt_version=$("$wasm_opt" --version 2>/dev/null | sed -n 's/^wasm-opt version \([0-9]*\).*/\1/p' || true)
if [[ -n "${SKIP_WASM_OPT:-}" ]]; then
    echo "build-web: SKIP_WASM_OPT set; not running wasm-opt"
elif [[ -z "$opt_version" ]]; then
    echo "build-web: $wasm_opt not found; not optimising (binaryen >= 111 shrinks the module by about 20%)"
elif ((opt_version < 111)); then
    echo "build-web: $wasm_opt is binaryen $opt_version, which breaks wasm-bindgen's externref table;" \
        "not optimising (needs >= 111; set WASM_OPT)"
else
    echo "build-web: $wasm_opt -Oz (binaryen $opt_version)"
    raw_before=$(stat -c %s "$wasm")
    # Rust's wasm32 target emits these post-MVP features; tell binaryen they are allowed.
    "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$wasm" -o "$wasm.opt"
    mv "$wasm.opt" "$wasm"
    echo "build-web: wasm-opt: $raw_before -> $(stat -c %s "$wasm") bytes"
fi

echo "build-web: package files from web/npm"
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
cp web/npm/*.js web/npm/index.d.ts web/npm/README.md web/npm/LICENSE-MIT web/npm/LICENSE-APACHE "$out/"
sed "s/0.0.0-set-by-build-web/$version/" web/npm/package.json >"$out/package.json"
rm -f "$out/.gitignore"

mkdir -p web/dist
rm -f web/dist/bert-wgpu-*.tgz
tarball=$(cd "$out" && npm pack --silent --pack-destination ../dist)
echo "build-web: npm pack: web/dist/$tarball ($(stat -c %s "web/dist/$tarball") bytes)"

raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v f="$wasm" -v r="$raw" -v g="$gz" \
    'BEGIN { printf "build-web: %s: %d bytes (%.2f MiB), gzipped %d bytes (%.2f MiB)\n", f, r, r / 1048576, g, g / 1048576 }'
limit=$((4 * 1024 * 1024))
if ((gz > limit)); then
    echo "build-web: the gzipped module ($gz bytes) exceeds the 4 MiB budget ($limit bytes)" >&2
    exit 1
fi
