"""Resume is exact after SIGKILL: 2N steps in one go equal N steps, a kill, and a resumed run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

STEPS, EVERY = 40, 10


def _dataset(tmp: Path) -> str:
    from unityvideo_jax.data.records.unisynth_tfds import UniSynthConfig, build

    builder = build(str(tmp / "data"), UniSynthConfig(name="kill", frames=3, height=16, width=16, clips_per_family=4))
    return str(builder.data_path)


def _command(workdir: Path, data: str, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "unityvideo_jax.cli", "train", "--config", "tiny_paper", "--workdir", str(workdir),
        f"--config.train.steps={steps}", f"--config.train.checkpoint_every={EVERY}", "--config.train.log_every=5",
        "--config.parallel.devices=1", f"--config.data.path={data}", "--config.data.frames=3",
        "--config.data.height=16", "--config.data.width=16", "--config.data.text_len=16", "--trace_data",
        "--noprogress",
    ]


def _env():
    env = dict(os.environ)
    env["XLA_FLAGS"] = ""  # one host device, like a user's CPU run
    return env


def _final(workdir: Path) -> dict:
    with ocp.CheckpointManager(workdir / "checkpoints", options=ocp.CheckpointManagerOptions(read_only=True)) as m:
        step = m.latest_step()
        items = {k: ocp.args.StandardRestore() for k in ("params", "ema", "opt_state", "meta")}
        restored = m.restore(step, args=ocp.args.Composite(**items))
    return {k: [np.asarray(x) for x in jax.tree.leaves(v)] for k, v in restored.items()}


def _trace(workdir: Path) -> list[str]:
    by_step = {}
    for line in (workdir / "data_trace.jsonl").read_text().splitlines():
        record = json.loads(line)
        by_step[record["step"]] = record["batch"]  # a resumed run rewrites the steps after the checkpoint
    return [by_step[s] for s in sorted(by_step)]


def test_sigkill_after_a_checkpoint_then_resume_is_bit_exact(tmp_path):
    data = _dataset(tmp_path)
    full, split = tmp_path / "full", tmp_path / "split"
    subprocess.run(_command(full, data, STEPS), check=True, env=_env(), capture_output=True)

    proc = subprocess.Popen(_command(split, data, STEPS), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # An unplanned moment after checkpoint N: a random step past it, watched through the data trace
    # (a fixed sleep raced a fast machine, which finished all steps before the kill).
    kill_after = random.randint(EVERY + 1, EVERY + 14)  # at least 16 steps before the end: a margin for the kill
    trace = split / "data_trace.jsonl"
    deadline = time.time() + 300
    while not ((split / "checkpoints" / str(EVERY)).is_dir() and trace.is_file()
               and len(trace.read_text().splitlines()) >= kill_after):
        assert proc.poll() is None and time.time() < deadline, "the run ended before the planned kill"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _trace(split)
    assert len(killed_at) < STEPS, "the run finished before it was killed; nothing was resumed"

    subprocess.run(_command(split, data, STEPS), check=True, env=_env(), capture_output=True)
    a, b = _final(full), _final(split)
    for item in ("params", "opt_state", "ema", "meta"):
        assert len(a[item]) == len(b[item])
        assert all(np.array_equal(x, y) for x, y in zip(a[item], b[item])), item
    assert _trace(full) == _trace(split) and len(_trace(full)) == STEPS
