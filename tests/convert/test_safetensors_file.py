"""The one safetensors reader and the one resolver of files, sharded indexes and folders (no torch).

Files are written by safetensors' own numpy writer, so the reader is checked against it.
"""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

from unityvideo_jax.weights.safetensors_file import DTYPES, SafetensorsReader, weight_files, write_safetensors

TENSORS = {
    "a.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
    "a.bias": np.array([1.5, -2.0], np.float16),
    "b.ids": np.arange(5, dtype=np.int64),
    "b.empty": np.zeros((0, 3), np.float32),
}


def _sharded(folder, index_name="model.safetensors.index.json", parts=2):
    """TENSORS over `parts` shards in `folder` with a Hugging Face style index; returns the index."""
    folder.mkdir(exist_ok=True)
    names = sorted(TENSORS)
    weight_map = {}
    for k in range(parts):
        shard = f"model-{k + 1:05d}-of-{parts:05d}.safetensors"
        save_file({n: TENSORS[n] for n in names[k::parts]}, str(folder / shard))
        weight_map |= {n: shard for n in names[k::parts]}
    index = folder / index_name
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return index


def _same_tensors(reader):
    assert sorted(reader) == sorted(TENSORS) and len(reader) == len(TENSORS)
    for name, value in TENSORS.items():
        assert reader.dtype(name) == value.dtype and reader.shape(name) == value.shape, name
        np.testing.assert_array_equal(reader[name], value, err_msg=name)


@pytest.mark.parametrize("form", ["file", "folder_with_file", "index", "folder_with_index"])
def test_every_form_resolves_to_the_same_tensors(tmp_path, form):
    if form in ("file", "folder_with_file"):
        save_file(TENSORS, str(tmp_path / "model.safetensors"))
        path = tmp_path / "model.safetensors" if form == "file" else tmp_path
    else:
        index = _sharded(tmp_path)
        path = index if form == "index" else tmp_path  # the shards beside the index are not ambiguous
        assert [f.name for f in weight_files(path)] == ["model-00001-of-00002.safetensors",
                                                        "model-00002-of-00002.safetensors"]
    with SafetensorsReader(path) as reader:
        _same_tensors(reader)
        assert "a.weight" in reader and "nope" not in reader
        assert dict(reader).keys() == TENSORS.keys()  # a Mapping: code written for a dict reads it


def test_views_are_zero_copy_and_read_only(tmp_path):
    save_file(TENSORS, str(tmp_path / "model.safetensors"))
    with SafetensorsReader(tmp_path / "model.safetensors") as reader:
        view = reader.view("a.weight")
        assert not view.flags.writeable and not view.flags.owndata
        copy = np.array(view)
        reader.release("a.weight")  # pages handed back; the bytes stay readable
        np.testing.assert_array_equal(view, copy)


def test_bf16_reads_as_bf16_without_torch(tmp_path):
    values = np.array([[1.0, -0.5], [3.140625, 1e-3]], ml_dtypes.bfloat16)
    write_safetensors(tmp_path / "bf16.safetensors", {"x": (values.shape, values.dtype)}, lambda _: values)
    with SafetensorsReader(tmp_path / "bf16.safetensors") as reader:
        assert reader.dtype("x") == DTYPES["BF16"]
        np.testing.assert_array_equal(reader["x"].astype(np.float32), values.astype(np.float32))


def test_missing_paths_and_shards_are_named_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .*nowhere.*pass a \.safetensors file"):
        weight_files(tmp_path / "nowhere")
    index = _sharded(tmp_path / "sharded")
    (tmp_path / "sharded" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"lists shards that do not exist: .*model-00002-of-00002"):
        SafetensorsReader(index)


def test_bad_indexes_and_ambiguous_folders_are_named(tmp_path):
    bad = tmp_path / "bad.safetensors.index.json"
    for text in ("{not json", json.dumps({"metadata": {}}), json.dumps({"weight_map": ["a", "b"]})):
        bad.write_text(text)
        with pytest.raises(ValueError, match=r"bad.safetensors.index.json is not a safetensors index"):
            weight_files(bad)
    two = tmp_path / "two"
    two.mkdir()
    for name in ("fp32.safetensors", "fp16.safetensors"):
        save_file(TENSORS, str(two / name))
    with pytest.raises(ValueError, match=r"two should hold one \*\.safetensors file .* found 2 and 0; pass the file"):
        weight_files(two)


def test_a_folder_of_model_folders_names_them(tmp_path):
    """A diffusers pipeline root instead of its vae/ folder: the error says which folders hold weights."""
    for sub in ("vae", "text_encoder"):
        (tmp_path / sub).mkdir()
        save_file(TENSORS, str(tmp_path / sub / "model.safetensors"))
    (tmp_path / "scheduler").mkdir()
    with pytest.raises(ValueError, match=r"its subfolders \['text_encoder', 'vae'\] hold weights: pass the one"):
        weight_files(tmp_path)


def test_a_tensor_in_two_shards_is_refused(tmp_path):
    index = _sharded(tmp_path)
    save_file({"a.bias": TENSORS["a.bias"]}, str(tmp_path / "model-00002-of-00002.safetensors"))
    first = weight_files(index)[0]
    save_file({"a.bias": TENSORS["a.bias"], "b.ids": TENSORS["b.ids"]}, str(first))
    with pytest.raises(ValueError, match=r"tensor a.bias is in both .*00001-of-00002.* and .*00002-of-00002"):
        SafetensorsReader(index)
