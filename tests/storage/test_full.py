"""A disk that fills during a checkpoint save: the run stops with one clear error (exit 2), the last
complete checkpoint stays intact, and the same command resumes from it once there is room again.
The full disk is a file size limit (RLIMIT_FSIZE) on the training process: its writes past 20 kB fail
as a full disk's do, whatever layer (Orbax, TensorStore, the metrics writer) makes them."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys

from unityvideo_jax.storage.full import storage_errno

from tests.train.test_resume_after_kill import _dataset, _env


def _command(workdir, data, steps):
    return [sys.executable, "-m", "unityvideo_jax.cli", "train", "--config", "tiny_paper", "--workdir", str(workdir),
            f"--config.train.steps={steps}", "--config.train.checkpoint_every=2", "--config.train.log_every=2",
            "--config.parallel.devices=1", f"--config.data.path={data}", "--config.data.frames=3",
            "--config.data.height=16", "--config.data.width=16", "--config.data.text_len=16", "--noprogress"]


def _small_files():  # in the child, before it runs: writes past 20 kB fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))


def _steps(workdir):
    return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


def test_a_full_disk_stops_the_run_with_the_last_checkpoint_intact(tmp_path):
    data, workdir = _dataset(tmp_path), tmp_path / "run"
    subprocess.run(_command(workdir, data, 2), check=True, env=_env(), capture_output=True)
    assert _steps(workdir) == [2]

    full = subprocess.run(_command(workdir, data, 6), env=_env(), capture_output=True, text=True,
                          preexec_fn=_small_files)
    assert full.returncode == 2, full.stderr[-3000:]
    assert "Traceback" not in full.stderr and "exception was never retrieved" not in full.stderr, full.stderr[-3000:]
    assert (f"unityvideo train: error: writing to {workdir} failed: a file grew past the size limit" in full.stderr
            and "the checkpoint of step 2 is intact" in full.stderr and "run the same command to resume" in full.stderr)
    assert _steps(workdir) == [2]  # the save that failed left no step folder behind, only Orbax's temporary

    subprocess.run(_command(workdir, data, 6), check=True, env=_env(), capture_output=True)
    assert _steps(workdir)[-1] == 6


def test_storage_errors_are_recognised_through_wrappers():
    assert storage_errno(OSError(errno.ENOSPC, "No space left on device")) == errno.ENOSPC
    wrapped = ValueError('OUT_OF_RANGE: Error writing "x": Failed to write 30 bytes to file 8: File too large')
    assert storage_errno(wrapped) == errno.EFBIG
    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as inner:
            raise RuntimeError("save failed") from inner
    except RuntimeError as outer:
        assert storage_errno(outer) == errno.EDQUOT
    assert storage_errno(ValueError("shapes do not match")) is None
