"""Run a benchmark script against an earlier commit and against this tree, in one go, same machine.

    python benchmarks/before_after.py --before 3e4e395 -- benchmarks/train_step.py --configs demo

The earlier commit is checked out into a temporary `git worktree`; the script given (this tree's
version of it, copied into the checkout) runs once against that checkout's package and once against
this tree's, alternating `--rounds` times. Both outputs are printed as they come.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs the script with `root`'s package in front of any installed (editable) one.
SHIM = (
    "import runpy, sys; root, script = sys.argv[1], sys.argv[2]; "
    "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in getattr(f, '__module__', '')]; "
    "sys.path.insert(0, root); sys.argv = sys.argv[2:]; runpy.run_path(script, run_name='__main__')"
)


def run(root: str, script: list[str]) -> None:
    # the scripts put their own checkout first on sys.path: run this tree's script from inside `root`
    path = os.path.join(root, os.path.relpath(os.path.abspath(script[0]), ROOT))
    if root != ROOT:
        shutil.copyfile(script[0], path)
    # this tree runs as installed; the earlier checkout through the shim, with PYTHONPATH for subprocesses
    command = [sys.executable, path, *script[1:]] if root == ROOT else [sys.executable, "-c", SHIM, root, path,
                                                                          *script[1:]]
    env = dict(os.environ) if root == ROOT else dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    print("\n".join(lines) if proc.returncode == 0 else proc.stderr[-3000:], flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before", required=True, help="the commit to compare with (e.g. a hash or HEAD~3)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("script", nargs=argparse.REMAINDER, help="-- then the benchmark script and its flags")
    args = p.parse_args()
    script = args.script[1:] if args.script[:1] == ["--"] else args.script
    with tempfile.TemporaryDirectory() as tmp:
        before = os.path.join(tmp, "before")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", before, args.before], check=True)
        # setup.py maps configs/ to unityvideo_jax.configs; a plain checkout needs the link
        os.symlink(os.path.join(before, "configs"), os.path.join(before, "unityvideo_jax", "configs"))
        try:
            for r in range(args.rounds):
                print(f"== round {r + 1}: before ({args.before})", flush=True)
                run(before, script)
                print(f"== round {r + 1}: after (this tree)", flush=True)
                run(ROOT, script)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", before], check=False)


if __name__ == "__main__":
    main()
