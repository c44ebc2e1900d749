"""Two processes (JAX distributed on 127.0.0.1) train into one gs:// run folder: both write their shards
of each checkpoint, both restore the first from the bucket, and only process 0 writes the run's logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.parallel.test_multihost import ROOT, WORKER, _free_port
from unityvideo_jax.storage.bucket import filesystem

pytestmark = pytest.mark.devices(8)


def test_two_processes_checkpoint_and_resume_in_one_bucket_folder(gcs, tmp_path):
    bucket = gcs.new_bucket()
    address = f"127.0.0.1:{_free_port()}"
    hosts = []
    for index in range(2):
        env = dict(gcs.env, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2",
                   JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(index),
                   UNITYVIDEO_TEST_CACHE=jax.config.jax_compilation_cache_dir or str(tmp_path / "cache"))
        hosts.append(subprocess.Popen([sys.executable, WORKER, f"gs://{bucket}/multi", str(tmp_path / "out.npz"), "3", "2"],
                                      env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for proc in hosts:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        assert "processes 2, devices 4" in out and "step 3" in out
    fs = filesystem()
    names = {n[len(bucket) + len("/multi/"):] for n in fs.find(f"{bucket}/multi")}
    steps = sorted(n.split("/")[1] for n in names if n.startswith("checkpoints/") and n.endswith("/commit_success.txt")
                   and n.count("/") == 2)
    assert steps == ["2", "3"]  # step 2 written by both, restored by both, then step 3
    assert any(n.startswith("checkpoints/3/params/ocdbt.process_1/") for n in names)  # host 1 wrote its shards
    lines = [json.loads(line) for line in fs.cat(f"{bucket}/multi/metrics.jsonl").decode().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in lines)  # once, by host 0
    assert not [n for n in names if n.startswith(("gs:", "/"))] and not os.path.exists(os.path.join(ROOT, "gs:"))
