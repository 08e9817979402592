#!/usr/bin/env bash
# Builds the page's wasm, twice:
#   web/pkg/          the default build: CPU on one thread, and WebGPU (stable Rust)
#   web/pkg-threads/  the threaded CPU build for cross-origin isolated pages: wasm
#                     atomics and a pool of web workers (nightly Rust, std rebuilt
#                     with atomics by -Z build-std; the pinned nightly is below)
#   web/build.sh            release builds (what the page and the e2e test use)
#   web/build.sh --dev      debug builds (faster to compile, much slower to run)
# Env: CARGO_TARGET_DIR (default /root/.cache/autolabel/target, shared by the team),
#      WASM_OPT=1 to also run wasm-opt -O3 (needs `npm i -g binaryen`; never Debian's binaryen).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/autolabel/target}"
TARGET=wasm32-unknown-unknown
BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen pin in web/Cargo.toml
THREADS_TOOLCHAIN=nightly-2026-05-20   # .ci/install installs it

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
rustup run "$THREADS_TOOLCHAIN" rustc --print sysroot >/dev/null 2>&1 \
  && [[ -d "$(rustup run "$THREADS_TOOLCHAIN" rustc --print sysroot)/lib/rustlib/src/rust/library" ]] \
  || die "the threaded build needs Rust $THREADS_TOOLCHAIN with rust-src. Install it with: rustup toolchain install $THREADS_TOOLCHAIN --profile minimal --component rust-src --target $TARGET"

# build OUT_DIR TOOLCHAIN RUSTFLAGS [cargo args…]: one wasm-bindgen package
# (TOOLCHAIN "" is the default one).
build() {
  local out="$1" toolchain="$2" rustflags="$3"
  shift 3
  echo "building autolabel-web into $out ($PROFILE${toolchain:+, $toolchain})…" >&2
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$rustflags" \
    cargo ${toolchain:+"+$toolchain"} build -p autolabel-web "${CARGO_PROFILE[@]}" --target "$TARGET" "$@"
  local wasm="$CARGO_TARGET_DIR/$TARGET/$PROFILE/autolabel_web.wasm"
  [[ -f "$wasm" ]] || die "cargo finished but $wasm is missing"
  rm -rf "$out"
  "$WASM_BINDGEN" --target web --remove-name-section --out-dir "$out" "$wasm"
  if [[ "${WASM_OPT:-0}" == "1" ]]; then
    command -v wasm-opt >/dev/null 2>&1 || die "WASM_OPT=1 but wasm-opt is missing. Install it with: npm i -g binaryen"
    wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-threads \
      "$out/autolabel_web_bg.wasm" -o "$out/autolabel_web_bg.wasm"
  fi
  echo "$out: $(du -h "$out/autolabel_web_bg.wasm" | cut -f1) wasm" >&2
}

# wasm SIMD for both (every browser with WebGPU has it too).
build web/pkg "" "-C target-feature=+simd128"
# The threaded build: atomics, and std rebuilt with them. Its memory is shared
# (imported, so the pool's workers get the same one) and may grow to 4 GiB
# (Grounding DINO's CPU heap is over 1 GiB); the TLS symbols are exported for
# wasm-bindgen, which sets up each thread's statics. Its own target dir, so the
# two builds do not evict each other's artifacts.
threads_link=(--shared-memory --import-memory --max-memory=4294967296
  --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base)
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/wasm-threads" build web/pkg-threads "$THREADS_TOOLCHAIN" \
  "-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals ${threads_link[*]/#/-C link-arg=}" \
  -Z build-std=panic_abort,std

# wasm-bindgen-rayon 1.3 hands each pool worker the WebAssembly.Module the page's worker
# compiled; V8 then left the pool's code in its baseline tier (SAM 2's encoder ran no faster on
# two threads than on one). Each pool worker compiles the module from its URL instead, and the
# threads gain 1.3–1.5× (docs/BENCHMARKS.md).
helper=(web/pkg-threads/snippets/wasm-bindgen-rayon-*/src/workerHelpers.no-bundler.js)
posted='await pkg.default(data.module, data.memory);'
[[ -f "${helper[0]}" ]] && grep -qF "$posted" "${helper[0]}" \
  || die "wasm-bindgen-rayon's worker helper changed: '$posted' not found in ${helper[0]}"
sed -i "s|$posted|await pkg.default({ module_or_path: new URL('autolabel_web_bg.wasm', data.mainJS), memory: data.memory });|" "${helper[0]}"

# The app shell web/sw.js keeps for offline use: every file the page loads but the models
# (web/model-store.js caches those), as paths from the repository root.
{
  printf '%s\n' index.html models/manifest.json
  find web -maxdepth 1 -type f \( -name '*.js' -o -name '*.css' \) ! -name sw.js
  find web/vendor web/pkg web/pkg-threads -type f ! -name '*.d.ts' ! -name package.json ! -name .gitignore
} | LC_ALL=C sort | python3 -c 'import json, sys; print(json.dumps([l.strip() for l in sys.stdin], indent=1))' > web/shell.json
