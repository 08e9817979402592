#!/usr/bin/env bash
# Builds the page's wasm: web/pkg/autolabel_web.js + autolabel_web_bg.wasm.
#   web/build.sh            release build (what the page and the e2e test use)
#   web/build.sh --dev      debug build (faster to compile, much slower to run)
# Env: CARGO_TARGET_DIR (default /root/.cache/autolabel/target, shared by the team),
#      WASM_OPT=1 to also run wasm-opt -O3 (needs `npm i -g binaryen`; never Debian's binaryen).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/autolabel/target}"
TARGET=wasm32-unknown-unknown
BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen pin in web/Cargo.toml

PROFILE=release
CARGO_PROFILE=(--release)
if [[ "${1:-}" == "--dev" ]]; then
  PROFILE=debug
  CARGO_PROFILE=()
fi

die() { echo "web/build.sh: $*" >&2; exit 1; }

if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx "$TARGET" \
    || die "the Rust target $TARGET is not installed. Install it with: rustup target add $TARGET"
elif ! rustc --print target-libdir --target "$TARGET" >/dev/null 2>&1 \
    || [[ ! -d "$(rustc --print target-libdir --target "$TARGET")" ]]; then
  die "the Rust target $TARGET is not installed (no rustup found to add it)."
fi

WASM_BINDGEN="$(command -v wasm-bindgen || true)"
[[ -z "$WASM_BINDGEN" && -x "$HOME/.cargo/bin/wasm-bindgen" ]] && WASM_BINDGEN="$HOME/.cargo/bin/wasm-bindgen"
[[ -n "$WASM_BINDGEN" ]] \
  || die "the wasm-bindgen CLI is missing. Install it with: cargo install wasm-bindgen-cli --version $BINDGEN_VERSION"
found="$("$WASM_BINDGEN" --version | awk '{print $2}')"
[[ "$found" == "$BINDGEN_VERSION" ]] \
  || die "wasm-bindgen CLI is $found, the crate needs $BINDGEN_VERSION. Install it with: cargo install wasm-bindgen-cli --version $BINDGEN_VERSION --force"

cd "$ROOT"
# wasm SIMD for the CPU build (every browser with WebGPU has it too).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:--C target-feature=+simd128}"
echo "building autolabel-web ($PROFILE, $TARGET)…" >&2
cargo build -p autolabel-web "${CARGO_PROFILE[@]}" --target "$TARGET"

WASM="$CARGO_TARGET_DIR/$TARGET/$PROFILE/autolabel_web.wasm"
[[ -f "$WASM" ]] || die "cargo finished but $WASM is missing"

rm -rf web/pkg
"$WASM_BINDGEN" --target web --remove-name-section --out-dir web/pkg "$WASM"

if [[ "${WASM_OPT:-0}" == "1" ]]; then
  command -v wasm-opt >/dev/null 2>&1 || die "WASM_OPT=1 but wasm-opt is missing. Install it with: npm i -g binaryen"
  wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    web/pkg/autolabel_web_bg.wasm -o web/pkg/autolabel_web_bg.wasm
fi

echo "web/pkg: $(du -h web/pkg/autolabel_web_bg.wasm | cut -f1) wasm" >&2
