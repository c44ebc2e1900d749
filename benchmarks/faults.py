"""Faults at random moments: SIGTERM (preemption) and SIGKILL at random steps of a CPU training run,
each resumed and compared bitwise with the uninterrupted run.

    python benchmarks/faults.py [--trials 20] [--steps 40] [--every 10] [--seed 0]

The signal lands where the run parks itself (tests/train/park_at_step.py) at a step drawn at random,
so the trace, not a sleep, decides the moment. Per trial it prints the step, the exit code, the
checkpoint steps left behind, whether a half-written step folder remained after the resume, and
whether the resumed run ends bitwise equal (parameters, optimizer, EMA, meta, and the batch trace).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.train import test_resume_after_kill as kill  # noqa: E402


def trial(kind: str, at: int, data: str, full: Path, work: Path, steps: int, every: int, number: int) -> dict:
    kill.KILL_AT, kill.EVERY = at, every  # the helpers read these module constants
    # a folder and a marker of its own per trial: a step drawn twice must not find the last trial's marker
    split, parked = work / f"{kind}-{number}-{at}", work / f"{kind}-{number}-{at}.parked"
    proc = subprocess.Popen(kill._command(split, data, steps, park=parked, until_sigterm=kind == "sigterm"),
                            env=kill._env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last_saved = (at // every) * every
    kill._wait_parked(proc, parked, *([split / "checkpoints" / str(last_saved)] if kind == "sigkill" and last_saved else []))
    proc.send_signal(signal.SIGTERM if kind == "sigterm" else signal.SIGKILL)
    code = proc.wait()
    left = sorted(p.name for p in (split / "checkpoints").iterdir()) if (split / "checkpoints").exists() else []
    subprocess.run(kill._command(split, data, steps), check=True, env=kill._env(), capture_output=True)
    half = [p.name for p in (split / "checkpoints").iterdir() if "tmp" in p.name]
    try:
        kill._assert_same_run(full, split)
        equal = True
    except AssertionError:
        equal = False
    shutil.rmtree(split, ignore_errors=True)
    return dict(kind=kind, step=at, code=code, left=left, half_written_after_resume=half, bitwise_equal=equal)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    kill.STEPS = args.steps
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        data = kill._dataset(work)
        full = work / "full"
        subprocess.run(kill._command(full, data, args.steps), check=True, env=kill._env(), capture_output=True)
        print("| signal | step | exit code | checkpoints left | half-written after resume | resumed run bitwise equal |")
        print("|---|---|---|---|---|---|")
        rows = []
        for kind in ("sigterm", "sigkill"):
            for number in range(args.trials):
                row = trial(kind, rng.randrange(1, args.steps - 1), data, full, work, args.steps, args.every, number)
                rows.append(row)
                print(f"| {kind} | {row['step']} | {row['code']} | {','.join(row['left']) or '-'} | "
                      f"{','.join(row['half_written_after_resume']) or 'none'} | {row['bitwise_equal']} |", flush=True)
        for kind in ("sigterm", "sigkill"):
            mine = [r for r in rows if r["kind"] == kind]
            print(f"{kind}: {sum(r['bitwise_equal'] for r in mine)}/{len(mine)} resumed runs bitwise equal")


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
