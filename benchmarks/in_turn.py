"""Runs a benchmark at an earlier commit and at the working tree, in turn (A B A B ...), to compare them.

    python benchmarks/in_turn.py --ref 5fc1249 --rounds 2 -- benchmarks/decoding.py --units 1024

The earlier commit is checked out in a temporary git worktree; each run is a
fresh process whose `kseq2seq` (through PYTHONPATH) and benchmark script
come from its own tree, so the two differ only in the code. This machine's
speed drifts, so the runs alternate and every output is printed, labelled.
"""

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run(tree, command):
    env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="2")
    script, *args = command
    result = subprocess.run([sys.executable, os.path.join(tree, script), *args], cwd=tree, env=env,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{script} failed in {tree}:\n{result.stderr[-3000:]}")
    return result.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="the earlier commit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("command", nargs="+", help="the benchmark script (relative to the repo root) and its arguments")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        old = os.path.join(folder, "old")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", old, args.ref], check=True)
        try:
            for round_ in range(1, args.rounds + 1):
                for label, tree in ((args.ref, old), ("working tree", ROOT)):
                    print(f"=== round {round_}: {label} ===\n{run(tree, args.command)}", flush=True)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old], check=False)


if __name__ == "__main__":
    main()
