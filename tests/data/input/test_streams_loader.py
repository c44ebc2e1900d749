"""The loader with k aux streams: up to k different modalities a sample has, the rest absent."""

from __future__ import annotations

import numpy as np

from tests.data.input.test_iterator import FakeSource, SOURCES, fake_record, sample_ids, small_config, take
from unityvideo_jax import modalities
from unityvideo_jax.data.input.iterator import iterate_sources
from unityvideo_jax.data.records import schema
from unityvideo_jax.latents import pixel

FEW = ("depth", "flow")  # what the `objects`-like source below has


def _sources():
    return {name: FakeSource(i, 40, names=FEW if name == "objects" else modalities.NAMES)
            for i, name in enumerate(SOURCES)}


def _config(k=3, fewer=0.0):
    config = small_config(batch=8)
    config.model.aux_streams = k
    config.data.fewer_streams = fewer
    config.data.source_modalities.objects = FEW
    return config


def test_each_sample_fills_up_to_k_distinct_modalities_it_has():
    config = _config()
    batches = take(iterate_sources(config, _sources(), process_index=0, process_count=1), 6)
    for batch in batches:
        assert batch["aux"].shape == (8, 3, 1, 2, 2, pixel.CHANNELS)
        assert batch["modality"].shape == batch["present"].shape == (8, 3)
        for row, (ids, present, source) in enumerate(zip(batch["modality"], batch["present"], batch["source"])):
            used = ids[present]
            assert len(set(used.tolist())) == len(used)
            expected = 2 if SOURCES[source] == "objects" else 3
            assert present.sum() == expected and present[:expected].all()  # present streams lead
            assert not batch["aux"][row, ~present].any()  # absent streams are zeros
            # each present stream holds exactly the record's rendering of its modality
            index = int(sample_ids(batch)[row] % 100000)
            record = fake_record(int(source), index, FEW if SOURCES[source] == "objects" else modalities.NAMES)
            for s in np.flatnonzero(present):
                name = modalities.get(int(ids[s])).name
                np.testing.assert_array_equal(batch["aux"][row, s], pixel.encode(record[schema.video_key(name)]))


def test_fewer_streams_draws_some_samples_with_absent_streams():
    config = _config(k=3, fewer=0.5)
    batches = take(iterate_sources(config, _sources(), process_index=0, process_count=1), 20)
    counts = np.concatenate([b["present"].sum(1)[b["source"] != SOURCES.index("objects")] for b in batches])
    assert set(counts.tolist()) == {1, 2, 3}
    assert 0.3 < np.mean(counts < 3) < 0.7


def test_the_same_batches_every_time():
    config = _config(k=2, fewer=0.3)
    first = take(iterate_sources(config, _sources(), process_index=0, process_count=1), 4)
    again = take(iterate_sources(config, _sources(), process_index=0, process_count=1), 4)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_every_modality_fills_every_stream_position():
    """Drawn by weight alone, heavy modalities would always come first: the order is shuffled."""
    config = _config(k=3)
    config.data.modality_weights.update(depth=0.7, flow=0.1, segmentation=0.1, skeleton=0.05, densepose=0.05)
    batches = take(iterate_sources(config, _sources(), process_index=0, process_count=1), 30)
    depth = modalities.index("depth")
    positions = np.concatenate([np.nonzero((b["modality"] == depth) & b["present"])[1] for b in batches])
    counts = np.bincount(positions, minlength=3)
    assert counts.min() > 0.2 * counts.sum(), counts
