"""Shipped weights: written from a run's EMA, found by name, refused when their files changed."""

from __future__ import annotations

import numpy as np
import pytest

from unityvideo_jax import get_config
from unityvideo_jax.weights import shipped
from unityvideo_jax.weights.params_io import load_config, load_params, save_params


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """A run checkpoint with distinct params and EMA, written as shipped weights `toy` in a temporary package."""
    monkeypatch.setattr(shipped, "FOLDER", tmp_path / "package")
    monkeypatch.setattr(shipped, "SHIPPED", {})
    config = get_config("tiny_paper")
    config.data.path = "/somewhere/on/the/trainer"
    run = tmp_path / "run"
    save_params(run / "checkpoints", {"w": np.zeros(4, np.float32)}, config, ema={"w": np.arange(4, dtype=np.float32)})
    folder, digest = shipped.write(str(run), "toy")
    shipped._register(shipped.ShippedWeights("toy", "tiny_paper", 10, digest, "unityvideo train ..."))
    return folder, digest


def test_write_keeps_the_ema_weights_and_drops_the_trainer_s_data_path(packaged):
    folder, digest = packaged
    np.testing.assert_array_equal(np.asarray(load_params(folder)["w"]), np.arange(4))
    config = load_config(folder)
    assert config.name == "tiny_paper" and config.data.path == ""
    assert digest == shipped.digest_of(folder) and len(digest) == 64


def test_resolve_checks_the_digest_and_returns_the_folder(packaged):
    folder, _ = packaged
    assert shipped.resolve("shipped:toy") == str(folder)
    assert shipped.resolve("runs/demo/run/checkpoints") == "runs/demo/run/checkpoints"  # not a shipped name


def test_an_edited_file_is_refused(packaged):
    folder, _ = packaged
    victim = max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"shipped:toy: the files under .* do not match their recorded digest"):
        shipped.resolve("shipped:toy")


def test_unknown_and_missing_names_are_clear_errors(packaged, tmp_path):
    with pytest.raises(ValueError, match=r"shipped:nope: no shipped weights of that name \(known: shipped:toy\)"):
        shipped.resolve("shipped:nope")
    shipped._register(shipped.ShippedWeights("gone", "tiny_paper", 1, "0" * 64, "-"))
    with pytest.raises(FileNotFoundError, match="missing from this installation"):
        shipped.resolve("shipped:gone")


def test_the_digest_sees_names_and_contents(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "x").mkdir(parents=True)
    (a / "x" / "f").write_bytes(b"12")
    (b / "x" / "g").write_bytes(b"12")
    assert shipped.digest_of(a) != shipped.digest_of(b)
    (b / "x" / "g").rename(b / "x" / "f")
    assert shipped.digest_of(a) == shipped.digest_of(b)
