"""The release format through torch-written files: bit-exact round trips, sharded imports, bad files.

The table's names against the published 5B file are checked in test_release_names.py (no torch)."""

from __future__ import annotations

import pickle
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

torch = pytest.importorskip("torch")

from tests.convert.random_checkpoints import foreign_shapes, random_tensors, write_random  # noqa: E402
from unityvideo_jax import get_config  # noqa: E402
from unityvideo_jax.convert import table  # noqa: E402
from unityvideo_jax.convert.torch_checkpoint import load_torch_checkpoint, save_torch_checkpoint  # noqa: E402
from unityvideo_jax.weights import fast_copy  # noqa: E402
from unityvideo_jax.weights.tree import flatten  # noqa: E402

TORCH_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def _bytes(t: torch.Tensor) -> bytes:
    return t.contiguous().view(torch.uint8).numpy().tobytes()


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
@pytest.mark.parametrize("config_name", ["tiny_release", "tiny_paper"])
def test_release_round_trip_is_bit_exact(tmp_path, config_name, dtype, monkeypatch):
    # many slabs, tiles and threads per tensor, as for 5B-sized ones
    monkeypatch.setattr(table, "_SLAB_BYTES", 100)
    monkeypatch.setattr(fast_copy, "TILE", 8)
    monkeypatch.setattr(fast_copy, "_MIN_PARALLEL_BYTES", 0)
    config = get_config(config_name)
    source = write_random(tmp_path / "in.safetensors", config, "release", TORCH_DTYPES[dtype])
    model = load_torch_checkpoint(tmp_path / "in.safetensors", config)
    params = flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}  # cast once, into fp32 masters
    save_torch_checkpoint(model, config, tmp_path / "out.safetensors", format="release", dtype=dtype)
    from safetensors.torch import load_file

    back = load_file(str(tmp_path / "out.safetensors"))
    assert sorted(back) == sorted(source)
    changed = [n for n in source if back[n].dtype != source[n].dtype or _bytes(back[n]) != _bytes(source[n])]
    assert changed == []


def _shard_last_divisible(params, mesh):
    """Shard each parameter over all 8 devices on its last axis that divides, else replicate."""
    out = {}
    for path, leaf in params.items():
        axes = [None] * len(leaf.shape)
        for a in reversed(range(len(leaf.shape))):
            if leaf.shape[a] % 8 == 0:
                axes[a] = "fsdp"
                break
        out[path] = NamedSharding(mesh, PartitionSpec(*axes))
    return out


@pytest.mark.parametrize("format", ["release", "diffusers"])
def test_sharded_import_builds_each_shard_in_place(tmp_path, format):
    config = get_config("tiny_release")
    write_random(tmp_path / "in.safetensors", config, format)
    plain = flatten(nnx.to_pure_dict(nnx.state(load_torch_checkpoint(tmp_path / "in.safetensors", config), nnx.Param)))
    mesh = jax.make_mesh((8,), ("fsdp",), axis_types=(jax.sharding.AxisType.Auto,))
    shardings = _shard_last_divisible(plain, mesh)
    model = load_torch_checkpoint(tmp_path / "in.safetensors", config, shardings=shardings)
    sharded = flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    assert sum(s.spec != PartitionSpec(*[None] * len(plain[p].shape)) for p, s in shardings.items()) > 20
    for path, value in sharded.items():
        assert value.sharding == shardings[path], path
        np.testing.assert_array_equal(np.asarray(value), np.asarray(plain[path]), err_msg=path)


# ---- bad files: one ValueError naming the first offenders, and never an unpickle -----------------


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the loader unpickled something")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def _tiny_file(tmp_path, edit=None) -> Path:
    tensors = random_tensors(foreign_shapes(get_config("tiny_release"), "release"))
    if edit:
        edit(tensors)
    from safetensors.torch import save_file

    save_file(tensors, str(tmp_path / "bad.safetensors"))
    return tmp_path / "bad.safetensors"


def _reshape_flow_in(t):
    t["flow_in.weight"] = torch.zeros(64, 32)


def _add_layer(t):
    t["base.blocks.2.self_attn.q.weight"] = torch.zeros(64, 64)


BAD_EDITS = {
    "missing": (lambda t: t.pop("base.blocks.1.ffn.2.bias"), ["missing 1", "base.blocks.1.ffn.2.bias [64]"]),
    "extra": (_add_layer, ["unexpected 1", "base.blocks.2.self_attn.q.weight [64, 64]"]),
    "wrong_shape": (_reshape_flow_in, ["flow_in.weight is [64, 32], expected [64, 64]"]),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_bad_tensor_sets_are_named(tmp_path, case, no_unpickling):
    edit, phrases = BAD_EDITS[case]
    with pytest.raises(ValueError) as err:
        load_torch_checkpoint(_tiny_file(tmp_path, edit), get_config("tiny_release"))
    for phrase in phrases:
        assert phrase in str(err.value)


def test_another_models_checkpoint_is_named(tmp_path, no_unpickling):
    with pytest.raises(ValueError, match=r"base.patch_embedding.weight is \[64, 12, 1, 2, 2\], expected \[1536, 16, 1, 2, 2\]"):
        load_torch_checkpoint(_tiny_file(tmp_path), get_config("wan21_1p3b_release"), format="release")
    write_random(tmp_path / "wan.safetensors", get_config("tiny_release"), "diffusers")
    with pytest.raises(ValueError, match="looks like a diffusers checkpoint: pass --format diffusers"):
        load_torch_checkpoint(tmp_path / "wan.safetensors", get_config("tiny_release"), format="release")


def test_truncated_file_is_named(tmp_path, no_unpickling):
    path = _tiny_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match=r"is truncated: tensor \S+ ends at byte"):
        load_torch_checkpoint(path, get_config("tiny_release"))
    path.write_bytes(data[:200])
    with pytest.raises(ValueError, match="not a complete safetensors file"):
        load_torch_checkpoint(path, get_config("tiny_release"))


def test_pickle_checkpoint_is_refused_unread(tmp_path, monkeypatch):
    (tmp_path / "folder").mkdir()
    path = tmp_path / "folder" / "model.pth"
    torch.save({"base.patch_embedding.bias": torch.zeros(64)}, path)  # written before the guard
    legacy = tmp_path / "legacy.safetensors"
    legacy.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    for bad in (path, legacy):
        with pytest.raises(ValueError, match="is a PyTorch pickle checkpoint, not safetensors.*weights_only=True"):
            load_torch_checkpoint(bad, get_config("tiny_release"))
    with pytest.raises(ValueError, match=r"holds PyTorch pickles \['model.pth'\]"):
        load_torch_checkpoint(tmp_path / "folder", get_config("tiny_release"))


def test_missing_path_and_corrupt_header(tmp_path, no_unpickling):
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*nope.safetensors"):
        load_torch_checkpoint(tmp_path / "nope.safetensors", get_config("tiny_release"))
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes((20).to_bytes(8, "little") + b"{not json at all....")
    with pytest.raises(ValueError, match="corrupt safetensors header"):
        load_torch_checkpoint(path, get_config("tiny_release"))


def test_our_writer_is_byte_identical_to_safetensors(tmp_path):
    """Exports are standard safetensors: the same bytes safetensors' own writer produces."""
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import save_file as save_torch

    from unityvideo_jax.weights.safetensors_file import SafetensorsReader, write_safetensors

    rng = np.random.default_rng(0)
    mixed = {"b.w": rng.standard_normal((3, 5)).astype(np.float32), "a": np.arange(4, dtype=np.float16),
             "c": np.ones((2, 1, 2), np.float64)}
    bf16 = {"x": torch.randn(7, 3).bfloat16(), "y": torch.randn(2).bfloat16()}
    save_numpy(mixed, str(tmp_path / "ref_mixed"))
    save_torch(bf16, str(tmp_path / "ref_bf16"))
    with SafetensorsReader(tmp_path / "ref_bf16") as reader:  # bf16 read as bf16 (ml_dtypes), unchanged
        ours = {n: np.array(reader.view(n)) for n in reader.names()}
    for name, tensors in (("mixed", mixed), ("bf16", ours)):
        write_safetensors(tmp_path / name, {n: (v.shape, v.dtype) for n, v in tensors.items()}, tensors.__getitem__)
        assert (tmp_path / name).read_bytes() == (tmp_path / f"ref_{name}").read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bf16", "mixed", "ref_bf16", "ref_mixed"]  # no temp files
