"""Record bytes, the shard writer with its manifest, and the UniSynth TFDS builder."""

from __future__ import annotations

import numpy as np
import pytest

from unityvideo_jax import get_config
from unityvideo_jax.data.records import manifest as manifest_lib
from unityvideo_jax.data.records import schema
from unityvideo_jax.data.records.writer import DatasetWriter, write_shard


def make_record(source="objects", index=0, dtype=np.float16, truth=True) -> dict:
    rng = np.random.default_rng(index)
    latent = lambda: rng.standard_normal((3, 2, 2, 48)).astype(dtype)  # noqa: E731
    record = {
        schema.RGB: latent(),
        "video/depth": latent(),
        "video/segmentation": latent(),
        "text": rng.standard_normal((7, 16)).astype(np.float16),
        "caption": f"a caption é {index}",
        "source": source,
        "id": f"{source}/{index}",
    }
    if truth:
        record.update({
            "truth/depth": rng.random((3, 8, 8), np.float32),
            "truth/instances": rng.integers(0, 9, (3, 8, 8)).astype(np.uint16),
            "truth/keypoints": rng.random((3, 2, 17, 2), np.float32),
            "truth/visibility": rng.random((3, 2, 17)) > 0.5,
        })  # fmt: skip
    return record


def assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key, value in a.items():
        if isinstance(value, np.ndarray):
            assert b[key].dtype == value.dtype, key
            np.testing.assert_array_equal(b[key], value, err_msg=key)
        else:
            assert b[key] == value, key


def test_record_bytes_round_trip_exactly():
    record = make_record()
    back = schema.from_bytes(schema.to_bytes(record))
    assert_same(record, back)
    assert schema.available_modalities(back) == ("depth", "segmentation")


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic"])
def test_damaged_bytes_raise_a_record_error(damage):
    data = bytearray(schema.to_bytes(make_record()))
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[:-100]
    else:
        data[:4] = b"JUNK"
    with pytest.raises(schema.RecordError):
        schema.from_bytes(bytes(data))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.update({"video/depth": r["video/depth"][:2]}), "video/depth is"),
        (lambda r: r.update({"video/xray": r[schema.RGB]}), "unknown modality"),
        (lambda r: r.update({"truth/depth": r["truth/depth"].astype(np.float64)}), "truth/depth must be"),
        (lambda r: r.pop("text"), "no text embedding"),
        (lambda r: r.update(caption=3), "'caption' must be a string"),
    ],
)
def test_schema_violations_are_named(change, message):
    record = make_record()
    change(record)
    with pytest.raises(schema.RecordError, match=message):
        schema.to_bytes(record)


def test_writer_makes_per_source_shards_and_a_manifest(tmp_path):
    with DatasetWriter(tmp_path, latent="wan22", text_encoder="umt5", shard_size=3) as writer:
        for i in range(7):
            writer.add(make_record("objects" if i % 2 else "mixed", i), row=i)
    m = manifest_lib.load(tmp_path)
    assert sorted((s.file, s.records, s.rows) for s in m.shards) == [
        ("mixed-00000.array_record", 3, [0, 2, 4]),
        ("mixed-00001.array_record", 1, [6]),
        ("objects-00000.array_record", 3, [1, 3, 5]),
    ]
    assert (m.video_shape, m.video_dtype, m.text_dim) == ([3, 2, 2, 48], "float16", 16)
    assert m.done_rows() == set(range(7))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([s.file for s in m.shards] + ["manifest.json"])
    from grain.sources import ArrayRecordDataSource

    shard = ArrayRecordDataSource([str(tmp_path / "objects-00000.array_record")])
    assert_same(schema.from_bytes(shard[1]), make_record("objects", 3))


def test_writer_never_rewrites_a_shard_and_clears_unfinished_writes(tmp_path):
    with DatasetWriter(tmp_path, latent="pixel", text_encoder="minilm", shard_size=2) as writer:
        writer.add(make_record(index=0, dtype=np.uint8, truth=False))
    finished = tmp_path / "objects-00000.array_record"
    with pytest.raises(FileExistsError, match="never rewritten"):
        write_shard(finished, [b"x"])
    # Leftovers of a crash: a temporary file and a shard the manifest never listed.
    (tmp_path / ".tmp-objects-00001.array_record").write_bytes(b"partial")
    (tmp_path / "objects-00001.array_record").write_bytes(b"unlisted")
    before = finished.read_bytes()
    with DatasetWriter(tmp_path, latent="pixel", text_encoder="minilm", shard_size=2) as writer:
        writer.add(make_record(index=1, dtype=np.uint8, truth=False))
    assert finished.read_bytes() == before
    names = ["manifest.json", "objects-00000.array_record", "objects-00001.array_record"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert schema.from_bytes(
        __import__("grain").sources.ArrayRecordDataSource([str(tmp_path / "objects-00001.array_record")])[0]
    )["id"] == "objects/1"
    with pytest.raises(ValueError, match="holds pixel/minilm records"):
        DatasetWriter(tmp_path, latent="wan22", text_encoder="minilm")


def test_unisynth_tfds_builder_writes_array_record_and_reads_back(tmp_path):
    import tensorflow_datasets as tfds

    from unityvideo_jax.data.input.iterator import make_iterator
    from unityvideo_jax.data.records.unisynth_tfds import build, flatten
    from unityvideo_jax.data.unisynth.clips import render_clip

    builder = build(str(tmp_path), "test")
    written = sorted(p.name for p in (tmp_path / f"unisynth/test/{builder.version}").glob("*.array_record*"))
    assert written[0].startswith("unisynth-mixed.array_record")
    source = tfds.data_source("unisynth/test", split="two_person", data_dir=str(tmp_path), download=False)
    assert len(source) == 4
    record = flatten(source[0])
    schema.validate(record)
    seed = int(record["id"].split("/")[1])
    clip = render_clip("two_person", seed, 5, 32, 32)
    np.testing.assert_array_equal(record[schema.RGB], clip.rgb)
    np.testing.assert_array_equal(record["truth/depth"], clip.depth)
    np.testing.assert_array_equal(record["truth/keypoints"], clip.keypoints)
    assert record["caption"] == clip.caption and record["source"] == "two_person"
    assert schema.available_modalities(record) == ("depth", "flow", "segmentation", "skeleton", "densepose")
    # The pipeline reads the TFDS version folder as config.data.path.
    config = get_config("tiny_paper")
    d = config.data
    d.path, d.frames, d.height, d.width, d.global_batch = builder.data_dir, 5, 32, 32, 4
    batch = next(make_iterator(config, process_index=0, process_count=1))
    assert batch["rgb"].shape == (4, 5, 16, 16, 12)
    np.testing.assert_array_equal(batch["source"], [0, 1, 2, 3])
