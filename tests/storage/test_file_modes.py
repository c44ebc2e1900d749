"""What the project writes atomically gets the permissions a plain write would (0666/0777 less the umask),
not the 0600/0700 of the temporaries it was written through."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from unityvideo_jax.infer.video import write_gif
from unityvideo_jax.storage.file_modes import current_umask
from unityvideo_jax.weights.safetensors_file import write_safetensors
from unityvideo_jax.weights.params_io import save_params


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_current_umask_reads_without_changing(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_written_files_have_the_umask_mode(tmp_path, umask):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what a plain write gives, for comparison
    weights = tmp_path / "w.safetensors"
    write_safetensors(weights, {"a": ((2,), np.float32)}, lambda name: np.ones(2, np.float32))
    video = write_gif(tmp_path / "v.gif", np.zeros((2, 8, 8, 3), np.uint8))
    for path in (weights, video):
        assert _mode(path) == _mode(plain) == 0o666 & ~umask, path


def test_saved_checkpoint_folder_has_the_umask_mode(tmp_path, umask):
    from unityvideo_jax import get_config

    config = get_config("tiny_paper")
    folder = tmp_path / "ckpt"
    save_params(folder, {"w": np.ones((2,), np.float32)}, config)
    os.mkdir(tmp_path / "plain")
    assert _mode(folder) == _mode(tmp_path / "plain") == 0o777 & ~umask
