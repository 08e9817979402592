"""Full-size Grounding DINO parity: the grounding-dino-tiny config (Swin-T,
BERT-base, 900 queries) with random weights (not committed) on a 600×800
image resized to 800×1066, through the Rust port on Burn's CPU backend, every
stage's max abs and relative error against transformers 5.23.0.

    python tests/parity/grounding_dino_full.py [--work DIR] [--write docs/parity.md]

Steps: `grounding_dino_fixtures.py --preset grounding-dino-tiny --out DIR`
(reference outputs), then `cargo test ... grounding_dino_parity_report
-- --ignored` with `AUTOLABEL_GROUNDING_DINO_FIXTURE=DIR`, which prints one
`GROUNDING_DINO_PARITY {json}` line per output; this script turns them into a
Markdown table. Paper: Liu et al., "Grounding DINO", 2023.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BEGIN = "<!-- grounding-dino-full-parity:begin -->"
END = "<!-- grounding-dino-full-parity:end -->"


def markdown(rows, profile):
    """The `GROUNDING_DINO_PARITY` rows as a Markdown table."""
    lines = [
        "| output | max abs error | max relative error (÷ max \\|ref\\|) | max \\|ref\\| |",
        "|---|---|---|---|",
    ]
    for r in rows:
        if "seconds" in r:
            lines.append(f"| forward pass, Burn flex CPU ({profile} profile) | {r['seconds']:.1f} s | – | – |")
        else:
            lines.append(f"| {r['output']} | {r['max_abs']:.2e} | {r['max_rel']:.2e} | {r['ref_max']:.3g} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.path.expanduser("~/.cache/autolabel/grounding-dino-full"))
    parser.add_argument("--write", help="Markdown file whose marked section receives the table")
    parser.add_argument("--skip-generate", action="store_true", help="reuse the reference outputs in --work")
    parser.add_argument("--release", action="store_true", help="build the Rust side with the release profile")
    args = parser.parse_args()

    if not args.skip_generate:
        subprocess.run(
            [sys.executable, os.path.join(HERE, "grounding_dino_fixtures.py"), "--preset", "grounding-dino-tiny", "--out", args.work],
            check=True,
        )
    env = dict(os.environ, AUTOLABEL_GROUNDING_DINO_FIXTURE=args.work)
    env.setdefault("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/autolabel/target"))
    run = subprocess.run(
        ["cargo", "test", "-q", *(["--release"] if args.release else []), "-p", "autolabel", "--test", "integration",
         "grounding_dino_parity_report", "--",
         "--ignored", "--nocapture", "--test-threads=1"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    rows = [json.loads(line.split(" ", 1)[1]) for line in run.stdout.splitlines() if line.startswith("GROUNDING_DINO_PARITY ")]
    if run.returncode != 0 or not rows:
        sys.stderr.write(run.stdout + run.stderr)
        sys.exit("the Rust parity report failed")

    table = markdown(rows, "release" if args.release else "dev, opt-level 2")
    print(table)
    if args.write:
        with open(args.write) as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            sys.exit(f"{args.write} lacks the {BEGIN} … {END} markers")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(args.write, "w") as f:
            f.write(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
