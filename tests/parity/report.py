"""What the parity and benchmark scripts share: writing a Markdown section between
two markers, and running an `#[ignore]`d Rust report test for its JSON lines."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_section(path, begin, end, text):
    """Replaces what lies between `begin` and `end` in the Markdown file `path`."""
    with open(path) as f:
        doc = f.read()
    if begin not in doc or end not in doc:
        sys.exit(f"{path} lacks the {begin} … {end} markers")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")


def rust_report(test, prefix, env, release):
    """Runs the ignored integration test `test` and returns the JSON of its stdout lines
    starting with `prefix`; exits when it fails."""
    env = dict(os.environ, **env)
    env.setdefault("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/autolabel/target"))
    run = subprocess.run(
        ["cargo", "test", "-q", *(["--release"] if release else []), "-p", "autolabel", "--test", "integration",
         test, "--", "--ignored", "--nocapture", "--test-threads=1"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    rows = [json.loads(line.split(" ", 1)[1]) for line in run.stdout.splitlines() if line.startswith(prefix + " ")]
    if run.returncode != 0 or not rows:
        sys.stderr.write(run.stdout + run.stderr)
        sys.exit("the Rust report failed")
    return rows
