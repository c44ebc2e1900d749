"""Two CPU processes joined by jax.distributed on 127.0.0.1 train like one process.

Each process has two of the four devices of an fsdp mesh and loads only its own rows of every
global batch; they checkpoint at step 2, restore it (every host), and train on to step 3. One
process with four devices trains the same global batches straight to step 3. The parameters
must agree (up to the order of the cross-process gradient sums).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(ROOT, "tests", "parallel", "multihost_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args, devices: int, **env):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **env)
    return subprocess.Popen([sys.executable, WORKER, *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(proc) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_two_processes_on_disjoint_rows_end_with_the_parameters_of_one(tmp_path):
    multi, single = tmp_path / "multi", tmp_path / "single"
    address = f"127.0.0.1:{_free_port()}"
    hosts = [
        _start([str(multi), str(tmp_path / "multi.npz"), "3", "2"], 2, JAX_COORDINATOR_ADDRESS=address,
               JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i))
        for i in range(2)
    ]
    alone = _start([str(single), str(tmp_path / "single.npz"), "3"], 4)
    outputs = [_finish(p) for p in hosts + [alone]]
    for i in range(2):
        assert f"processes 2, devices 4, rows {{'process_index': {i}, 'process_count': 2}}, step 3" in outputs[i]
    assert sorted(os.listdir(multi / "checkpoints")) == ["2", "3"]  # written by both hosts, 2 restored by both

    got, want = np.load(tmp_path / "multi.npz"), np.load(tmp_path / "single.npz")
    assert sorted(got.files) == sorted(want.files) and len(got.files) > 20
    worst = max(float(np.abs(got[k] - want[k]).max()) for k in want.files)
    assert worst <= 5e-5, f"parameters differ by up to {worst} (3 AdamW steps of lr 1e-3 move them ~3e-3)"
