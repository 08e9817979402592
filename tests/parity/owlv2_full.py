"""Full-size OWLv2 parity: the owlv2-base-patch16 config (ViT-B/16 at 960², CLIP text
tower 512 wide) with random weights (not committed) on a 900×1600 image padded to
1600² and resized to 960² (with the processor's gaussian anti-aliasing), 3 queries,
through the Rust port on Burn's CPU backend: every output's max abs and relative error
against transformers 5.23.0.

    python tests/parity/owlv2_full.py [--work DIR] [--write docs/parity.md]

Steps: `owlv2_fixtures.py --preset owlv2-base-patch16 --out DIR` (reference outputs),
then `cargo test ... owlv2_parity_report -- --ignored` with `AUTOLABEL_OWLV2_FIXTURE=DIR`,
which prints one `OWLV2_PARITY {json}` line per output; this script turns them into a
Markdown table. Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection", 2023.
"""

import argparse
import os
import subprocess
import sys

from grounding_dino_full import markdown
from report import rust_report, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN = "<!-- owlv2-full-parity:begin -->"
END = "<!-- owlv2-full-parity:end -->"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.path.expanduser("~/.cache/autolabel/owlv2-full"))
    parser.add_argument("--write", help="Markdown file whose marked section receives the table")
    parser.add_argument("--skip-generate", action="store_true", help="reuse the reference outputs in --work")
    parser.add_argument("--release", action="store_true", help="build the Rust side with the release profile")
    args = parser.parse_args()

    if not args.skip_generate:
        subprocess.run(
            [sys.executable, os.path.join(HERE, "owlv2_fixtures.py"), "--preset", "owlv2-base-patch16", "--out", args.work],
            check=True,
        )
    rows = rust_report("owlv2_parity_report", "OWLV2_PARITY", {"AUTOLABEL_OWLV2_FIXTURE": args.work}, args.release)

    table = markdown(rows, "release" if args.release else "dev, opt-level 2")
    print(table)
    if args.write:
        write_section(args.write, BEGIN, END, table)


if __name__ == "__main__":
    main()
