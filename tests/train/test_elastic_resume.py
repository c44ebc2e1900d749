"""Elastic resume: a checkpoint written on one mesh restores onto another. Trained 6 steps on 8 devices
(fsdp 4 x tensor 2), the run continues to 12 on 4 devices (fsdp 4) and on 1 device: its parameters equal
the uninterrupted 8-device run's up to the float rounding of the different reductions, and every later
batch is the same (bitwise, by the data trace)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from tests.train.fake_data import SyntheticBatches
from tests.train.test_train import tiny_train_config
from unityvideo_jax.train.loop import train

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)

MESHES = {  # name: (devices, preset, data, fsdp, tensor)
    "fsdp4_tensor2": (8, "fsdp_tensor", 1, 4, 2),
    "fsdp4": (4, "fsdp", 1, 4, 1),
    "one_device": (1, "fsdp", 1, 1, 1),
}


def _config(mesh: str, steps: int):
    devices, preset, data, fsdp, tensor = MESHES[mesh]
    config = tiny_train_config(steps=steps, checkpoint_every=6, log_every=3)
    config.data.global_batch = 4
    config.parallel.update(devices=devices, preset=preset, data=data, fsdp=fsdp, tensor=tensor, context=1)
    return config


def _iterate(config, start):
    batches = SyntheticBatches(config, batch=config.data.global_batch)
    batches.set_state({"index": start})
    return batches


def _trace(workdir):
    by_step = {}
    for line in (workdir / "data_trace.jsonl").read_text().splitlines():
        record = json.loads(line)
        by_step[record["step"]] = record["batch"]
    return [by_step[s] for s in sorted(by_step)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("elastic") / "full"
    state = train(_config("fsdp4_tensor2", 12), str(workdir), _iterate, progress=False, record_batches=True).state
    return workdir, [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state.params))]


@pytest.mark.parametrize("resume_on", ["fsdp4", "one_device"])
def test_a_checkpoint_resumes_on_another_mesh(uninterrupted, resume_on, tmp_path):
    full, want = uninterrupted
    workdir = tmp_path / "run"
    train(_config("fsdp4_tensor2", 6), str(workdir), _iterate, progress=False, record_batches=True)
    summary = train(_config(resume_on, 12), str(workdir), _iterate, progress=False, record_batches=True)
    assert int(summary.state.step) == 12
    got = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(summary.state.params))]
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want))
    print(f"resumed on {resume_on}: max |param difference| to the uninterrupted run = {worst:.3g}")
    assert worst < 1e-4
    assert _trace(workdir) == _trace(full)
