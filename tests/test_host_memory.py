"""The host malloc settings (unityvideo_jax/host_memory.py): XLA:CPU's scratch stays mapped between calls.

Each case runs in a fresh interpreter, since the settings must be in place before XLA's threads first
allocate. The control (`UNITYVIDEO_HOST_MALLOC=default`) shows the fault count the settings remove, so
the test fails if they stop working (or were never needed on this libc).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from unityvideo_jax import host_memory

# A jitted function whose scratch (> glibc's 64 MB thread-arena heap) is what a training step's is.
PROBE = r"""
import json, resource
import unityvideo_jax
import jax, jax.numpy as jnp
from unityvideo_jax import host_memory

@jax.jit
def f(x):
    a = jnp.sin(x)
    b = jnp.cumsum(a, axis=0)
    return (b * a[::-1]).sum(axis=0)

x = jnp.ones((4000, 4000), jnp.float32)
temp = f.lower(x).compile().memory_analysis().temp_size_in_bytes
faults = []
for _ in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": host_memory.applied(), "temp": temp, "faults": faults}))
"""


def run_probe(**env) -> dict:
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", **env}
    environment.pop("XLA_FLAGS", None)  # one host device, as a user's process has
    out = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


glibc_cpu = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                               reason="the settings are glibc's; other C libraries keep their own")


@glibc_cpu
def test_scratch_is_reused_between_calls():
    tuned, control = run_probe(), run_probe(UNITYVIDEO_HOST_MALLOC="default")
    assert tuned["applied"] and not control["applied"]
    pages = tuned["temp"] / 4096
    assert pages > 64 * 2**20 / 4096, "the probe's scratch must exceed a thread arena's heap"
    # Without the settings every call faults its scratch in anew; with them, once the heap has grown
    # to fit the calls' allocations (a few calls: their order varies between XLA's threads), most don't.
    assert min(control["faults"][8:]) > 0.5 * pages, control
    warm = sorted(tuned["faults"][8:])
    assert warm[len(warm) // 2] < 0.05 * pages, tuned


def test_accelerator_or_opt_out_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "tpu")
    assert host_memory.accelerator_visible()
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert not host_memory.accelerator_visible()
    monkeypatch.delenv("JAX_PLATFORMS")
    monkeypatch.setattr(host_memory.glob, "glob", lambda pattern: ["/dev/accel0"] if "accel" in pattern else [])
    assert host_memory.accelerator_visible()
    monkeypatch.setitem(host_memory._state, "applied", None)
    assert host_memory.configure() is False  # an accelerator is visible: nothing is set
    monkeypatch.setattr(host_memory.glob, "glob", lambda pattern: [])
    monkeypatch.setenv(host_memory.ENV, "default")
    monkeypatch.setitem(host_memory._state, "applied", None)
    assert host_memory.configure() is False  # opted out
