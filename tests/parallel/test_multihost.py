"""Two CPU processes joined by jax.distributed on 127.0.0.1 train like one process.

Each process has two of the four devices of an fsdp mesh and loads only its own rows of every
global batch; they checkpoint at step 2, restore it (every host), and train on to step 3. This
process, on four of its devices, trains the same global batches straight to step 3. The
parameters must agree (up to the order of the cross-process gradient sums).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.parallel.multihost_worker import HostRows, tiny_config
from unityvideo_jax.train.loop import train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(ROOT, "tests", "parallel", "multihost_worker.py")

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _host(index: int, address: str, workdir, out, resume_at: int = 2, steps: int = 3):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(index),
               UNITYVIDEO_TEST_CACHE=jax.config.jax_compilation_cache_dir or "")
    return subprocess.Popen([sys.executable, WORKER, str(workdir), str(out), str(steps), str(resume_at)], env=env, cwd=ROOT,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _one_process_params(workdir, steps: int = 3, checkpoint_every: int = 1000, **parallel) -> dict:
    config = tiny_config()
    config.parallel.update(**{"devices": 4, **parallel})
    config.train.update(steps=steps, checkpoint_every=checkpoint_every)
    state = train(config, str(workdir), lambda c, start: HostRows(c, 0, 1), progress=False).state
    flat = jax.tree_util.tree_flatten_with_path(jax.device_get(state.params))[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


def test_two_processes_on_disjoint_rows_end_with_the_parameters_of_one(tmp_path):
    multi = tmp_path / "multi"
    address = f"127.0.0.1:{_free_port()}"
    hosts = [_host(i, address, multi, tmp_path / "multi.npz") for i in range(2)]
    want = _one_process_params(tmp_path / "single")  # while the two hosts work
    outputs = []
    for proc in hosts:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        outputs.append(out)
    for i in range(2):
        assert f"processes 2, devices 4, rows {{'process_index': {i}, 'process_count': 2}}, step 3" in outputs[i]
    assert sorted(os.listdir(multi / "checkpoints")) == ["2", "3"]  # written by both hosts, 2 restored by both

    got = np.load(tmp_path / "multi.npz")
    assert sorted(got.files) == sorted(want) and len(want) > 20
    worst = max(float(np.abs(got[k] - want[k]).max()) for k in want)
    assert worst <= 5e-5, f"parameters differ by up to {worst} (3 AdamW steps of lr 1e-3 move them ~3e-3)"


def test_a_one_process_checkpoint_resumes_on_two_processes(tmp_path):
    """Elastic resume across host counts and meshes: 2 steps on one process of 8 devices (fsdp 4 x
    tensor 2), step 3 on two processes (fsdp over 2 devices each) from that checkpoint, against one
    process of 4 devices straight to step 3."""
    elastic = tmp_path / "elastic"
    _one_process_params(elastic, steps=2, checkpoint_every=2, devices=8, preset="fsdp_tensor", fsdp=4, tensor=2)
    address = f"127.0.0.1:{_free_port()}"
    hosts = [_host(i, address, elastic, tmp_path / "elastic.npz", resume_at=0) for i in range(2)]
    want = _one_process_params(tmp_path / "single")
    for i, proc in enumerate(hosts):
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        assert f"processes 2, devices 4, rows {{'process_index': {i}, 'process_count': 2}}, step 3" in out
    got = np.load(tmp_path / "elastic.npz")
    assert sorted(got.files) == sorted(want)
    worst = max(float(np.abs(got[k] - want[k]).max()) for k in want)
    print(f"one process -> two processes: max |param difference| = {worst:.3g}")
    assert worst <= 5e-5, f"parameters differ by up to {worst}"

