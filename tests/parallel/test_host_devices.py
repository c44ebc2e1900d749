"""The multi-device tests get their CPU devices: tests/conftest.py adds the device count to XLA_FLAGS
already set, and runs tests marked `devices(n)` in a CPU subprocess where this process has fewer."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, host_device_flags

COUNT = "--xla_force_host_platform_device_count"
OTHER = "--xla_dump_hlo_as_text"  # a real XLA flag that changes nothing here


def _env(xla_flags: str) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags)
    env.pop("UNITYVIDEO_DEVICE_OUTCOMES", None)  # a plain run, not conftest's device subprocess
    return env


def test_the_device_count_joins_flags_already_set():
    assert host_device_flags("") == f"{COUNT}=8"
    assert host_device_flags(f"  {OTHER} ") == f"{OTHER} {COUNT}=8"
    chosen = f"{COUNT}=2 {OTHER}"
    assert host_device_flags(chosen) == chosen  # someone's own count is kept ...
    assert host_device_flags(chosen, 8, force=True) == f"{OTHER} {COUNT}=8"  # ... except in the device subprocess


def test_a_process_with_other_xla_flags_gets_eight_cpu_devices():
    code = "import tests.conftest, jax; print(jax.device_count(), jax.default_backend())"
    proc = subprocess.run([sys.executable, "-c", code], env=_env(OTHER), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout.split()[-2:] == ["8", "cpu"], proc.stdout + proc.stderr


def test_with_too_few_devices_the_tests_run_in_a_subprocess_that_has_them():
    test = "tests/parallel/test_validate.py::test_dcn_sizes_must_match_the_slices_there_are"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", test]
    proc = subprocess.run(argv, env=_env(f"{OTHER} {COUNT}=1"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0 and "1 passed" in out, out + proc.stderr
    assert "ran in a subprocess set up for 8 CPU devices (1 passed), as this process has 1 cpu device(s)" in out, out
