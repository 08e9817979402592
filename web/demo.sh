#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, writes the
# synthetic demo scene as a nuScenes dataset and prints its ground truth with the
# native CLI, then builds the page and serves it on http://127.0.0.1:${PORT:-8080}.
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOLABEL_SKIP_TEST_DEPS=1 bash .ci/install
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${AUTOLABEL_CACHE:-$HOME/.cache/autolabel}/target}"

cargo build --release --locked -p autolabel --bin autolabel
cli="$CARGO_TARGET_DIR/release/autolabel"
out=out/demo
"$cli" demo --out "$out"
"$cli" gt --nuscenes "$out" --scene scene-demo --out out/demo-gt.json
python3 - <<'PY'
import json
gt = json.load(open("out/demo-gt.json"))
n = sum(len(k["annotations"]) for k in gt)
print(f"demo scene: {len(gt)} keyframes, {n} projected boxes -> out/demo-gt.json")
PY

bash web/build.sh
echo "open http://127.0.0.1:${PORT:-8080}/?demo=1 for the embedded demo scene (or drop a clip on the page)"
exec python3 web/serve.py "${PORT:-8080}"
