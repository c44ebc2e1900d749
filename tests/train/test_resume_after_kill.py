"""Resume is exact after SIGKILL and after SIGTERM (preemption): 40 steps in one go equal a run killed
past its step-10 checkpoint and resumed, and a run preempted mid-way (it checkpoints the step in flight
and exits 75) and resumed. The signal lands at a fixed step (KILL_AT), where the run parks itself
(park_at_step.py), so neither the machine's speed nor a poll's timing decides which steps are redone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from unityvideo_jax.train.preemption import PREEMPTED_EXIT

STEPS, EVERY = 40, 10
KILL_AT = EVERY + 5  # steps 10..14 run after the checkpoint and are lost with the process
PARK = Path(__file__).with_name("park_at_step.py")


def _dataset(tmp: Path) -> str:
    from unityvideo_jax.data.records.unisynth_tfds import UniSynthConfig, build

    builder = build(str(tmp / "data"), UniSynthConfig(name="kill", frames=3, height=16, width=16, clips_per_family=4))
    return str(builder.data_path)


def _command(workdir: Path, data: str, steps: int, *, park: Path | None = None, until_sigterm=False) -> list[str]:
    # with `park`, the run writes KILL_AT to that file when it asks for batch KILL_AT, and waits there
    # (until SIGKILL, or with `until_sigterm` until the run's handler saw SIGTERM)
    program = ["-m", "unityvideo_jax.cli"] if park is None else [
        str(PARK), *(["--until-sigterm"] if until_sigterm else []), str(KILL_AT), str(park)]
    return [
        sys.executable, *program, "train", "--config", "tiny_paper", "--workdir", str(workdir),
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


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """(data path, the workdir of 40 steps in one go)."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    data, full = _dataset(tmp), tmp / "full"
    subprocess.run(_command(full, data, STEPS), check=True, env=_env(), capture_output=True)
    return data, full


def _wait_parked(proc, parked: Path, *also: Path):
    deadline = time.time() + 600
    while not (parked.is_file() and all(p.is_dir() for p in also)):
        assert proc.poll() is None, "the run ended before it parked at the planned step"
        assert time.time() < deadline, "the run did not reach the planned step in 600 s"
        time.sleep(0.05)


def _assert_same_run(full: Path, split: Path):
    a, b = _final(full), _final(split)
    for item in ("params", "opt_state", "ema", "meta"):
        assert len(a[item]) == len(b[item])
        assert all(np.array_equal(x, y) for x, y in zip(a[item], b[item])), item
    assert _trace(full) == _trace(split) and len(_trace(full)) == STEPS


def test_sigterm_checkpoints_the_step_in_flight_then_resume_is_bit_exact(uninterrupted, tmp_path):
    data, full = uninterrupted
    split, parked = tmp_path / "split", tmp_path / "parked"
    proc = subprocess.Popen(_command(split, data, STEPS, park=parked, until_sigterm=True), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_parked(proc, parked)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == PREEMPTED_EXIT, err[-2000:]
    assert f"preempted at step {KILL_AT + 1}" in err and "run the same command to resume" in err
    assert "Traceback" not in err
    # the step that was waiting for its batch ran, was saved with it, and nothing after it started
    saved = sorted(int(p.name) for p in (split / "checkpoints").iterdir() if p.name.isdigit())
    assert saved[-1] == KILL_AT + 1, saved
    assert len(_trace(split)) == KILL_AT + 1

    subprocess.run(_command(split, data, STEPS), check=True, env=_env(), capture_output=True)
    _assert_same_run(full, split)


def test_sigkill_after_a_checkpoint_then_resume_is_bit_exact(uninterrupted, tmp_path):
    data, full = uninterrupted
    split = tmp_path / "split"

    parked = tmp_path / "parked"
    proc = subprocess.Popen(_command(split, data, STEPS, park=parked), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # the kill waits for the run to park at KILL_AT and for checkpoint 10 (saved asynchronously) to be final
    _wait_parked(proc, parked, split / "checkpoints" / str(EVERY))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert parked.read_text() == str(KILL_AT)
    assert len(_trace(split)) == KILL_AT, "the killed run drew exactly the batches before KILL_AT"
    assert sorted(int(p.name) for p in (split / "checkpoints").iterdir() if p.name.isdigit()) == [EVERY]

    subprocess.run(_command(split, data, STEPS), check=True, env=_env(), capture_output=True)
    _assert_same_run(full, split)
