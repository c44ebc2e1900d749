"""Reading a checkpoint whose newest step is damaged (junk in the step folder, a half-written item)
falls back to the newest readable step with one warning; none readable is one clear ValueError."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from unityvideo_jax import get_config
from unityvideo_jax.weights.params_io import EMA_ITEM, has_item, load_config, load_params, save_params


@pytest.fixture
def checkpoint(tmp_path):
    config = get_config("tiny_paper")
    folder = tmp_path / "ckpt"
    save_params(folder, {"w": np.arange(3, dtype=np.float32)}, config)
    return folder


def _newer_step(folder, step: int, *, from_step: int = 0):
    """A copy of step `from_step` as step `step` (what a later save would look like)."""
    shutil.copytree(folder / str(from_step), folder / str(step))
    return folder / str(step)


def test_junk_step_folder_falls_back_with_a_warning(checkpoint, capsys):
    (checkpoint / "7").mkdir()
    (checkpoint / "7" / "junk.bin").write_bytes(b"\x00garbage")
    assert load_config(checkpoint).name == "tiny_paper"
    np.testing.assert_array_equal(np.asarray(load_params(checkpoint)["w"]), np.arange(3))
    out = capsys.readouterr().out
    assert "step 7" in out and "using step 0, the newest readable one" in out


def test_half_written_item_falls_back(checkpoint, capsys):
    newer = _newer_step(checkpoint, 9)
    for f in (newer / "params").rglob("*"):  # the arrays' files truncated, as a disk-full save leaves them
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
    np.testing.assert_array_equal(np.asarray(load_params(checkpoint)["w"]), np.arange(3))
    assert "using step 0" in capsys.readouterr().out


def test_a_readable_newest_step_is_used_without_a_warning(checkpoint, capsys):
    _newer_step(checkpoint, 3)
    assert load_config(checkpoint).name == "tiny_paper" and not has_item(checkpoint, EMA_ITEM)
    assert "warning" not in capsys.readouterr().out


def test_no_readable_step_is_one_clear_error(tmp_path):
    folder = tmp_path / "broken"
    (folder / "4").mkdir(parents=True)
    (folder / "4" / "junk").write_text("x")
    with pytest.raises(ValueError, match=r"no step of checkpoint .*broken can be read \(step 4: .*damaged"):
        load_config(folder)


def test_a_missing_item_is_the_callers_mistake_not_damage(checkpoint):
    with pytest.raises(ValueError, match=r"has no 'ema' item, only \['config', 'params'\]"):
        load_params(checkpoint, item=EMA_ITEM)
