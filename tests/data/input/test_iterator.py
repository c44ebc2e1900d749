"""The Grain pipeline: batch contract, source balance, modality weights, curriculum, hosts, resume,
bad records. Most tests read small synthetic records whose text embedding names the sample
(text[0, 0] = source * 100000 + index), so a batch says exactly which records it holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unityvideo_jax import get_config, modalities
from unityvideo_jax.data.input.bad_records import TooManyBadRecords
from unityvideo_jax.data.input.iterator import eval_clips, iterate_sources, make_iterator
from unityvideo_jax.data.records import schema
from unityvideo_jax.data.records.writer import DatasetWriter
from unityvideo_jax.data.render import renderings
from unityvideo_jax.latents import pixel

SOURCES = ("single_person", "two_person", "objects", "mixed")
KEYS = {"rgb", "aux", "modality", "text", "source"}


def small_config(batch=8, **data):
    config = get_config("tiny_paper")
    d = config.data
    d.frames, d.height, d.width, d.text_len, d.global_batch = 1, 4, 4, 3, batch
    for key, value in data.items():
        setattr(d, key, value)
    return config


def fake_record(source: int, index: int, names=modalities.NAMES) -> dict:
    rng = np.random.default_rng([source, index])
    video = lambda: rng.integers(0, 256, (1, 4, 4, 3), dtype=np.uint8)  # noqa: E731
    text = np.zeros((2, 384), np.float32)
    text[0, 0] = source * 100000 + index
    record = {schema.RGB: video(), "text": text, "caption": "c", "source": SOURCES[source], "id": f"{index}"}
    record.update({schema.video_key(n): video() for n in names})
    return record


class FakeSource:
    def __init__(self, source: int, size: int, names=modalities.NAMES, bad=()):
        self.source, self.size, self.names, self.bad = source, size, names, set(bad)

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if index in self.bad:
            raise schema.RecordError("damaged")
        return fake_record(self.source, index, self.names)

    def locate(self, index):
        return f"record {index} of fake {self.source}"


def fake_sources(size=50, **kwargs):
    return {name: FakeSource(i, size, **kwargs) for i, name in enumerate(SOURCES)}


def sample_ids(batch) -> np.ndarray:
    return batch["text"][:, 0, 0].astype(np.int64)


def take(iterator, count):
    batches = [next(iterator) for _ in range(count)]
    iterator.close()
    return batches


def test_unisynth_in_memory_batch_follows_the_contract():
    from unityvideo_jax.data.unisynth.clips import render_clip
    from unityvideo_jax.model.text.encoders import text_encoder

    config = get_config("tiny_paper")
    d = config.data
    d.frames, d.height, d.width, d.global_batch, d.text_len = 5, 16, 16, 4, 128
    iterator = make_iterator(config, process_index=0, process_count=1)
    batch = take(iterator, 1)[0]
    assert set(batch) == KEYS
    assert batch["rgb"].shape == batch["aux"].shape == (4, 5, 8, 8, pixel.CHANNELS)
    assert batch["text"].shape == (4, d.text_len, config.model.text_dim)
    assert {k: v.dtype.name for k, v in batch.items()} == dict(
        rgb="float32", aux="float32", modality="int32", text="float32", source="int32"
    )
    np.testing.assert_array_equal(batch["source"], [0, 1, 2, 3])
    # Rebuild sample 2 (source `objects`) from its clip: the batch must hold exactly its encodings.
    loader = iterator._loader
    source, k = loader.mixer.slot(0, 2)
    seed = int(loader.streams[source][k])
    clip = render_clip("objects", seed, 5, 16, 16)
    np.testing.assert_array_equal(batch["rgb"][2], pixel.encode(clip.rgb))
    aux = renderings.render(modalities.get(int(batch["modality"][2])).name, clip)
    np.testing.assert_array_equal(batch["aux"][2], pixel.encode(aux))
    embedding = text_encoder(d.text_encoder).encode_one(clip.caption)
    assert len(embedding) < d.text_len
    np.testing.assert_allclose(batch["text"][2, : len(embedding)], embedding, rtol=1e-6)
    assert not batch["text"][2, len(embedding) :].any()


def test_every_batch_holds_its_share_of_every_source():
    config = small_config(batch=8)
    for batch in take(iterate_sources(config, fake_sources(), process_index=0, process_count=1), 12):
        np.testing.assert_array_equal(np.bincount(batch["source"], minlength=4), [2, 2, 2, 2])
        np.testing.assert_array_equal(sample_ids(batch) // 100000, batch["source"])


def test_global_batch_must_divide_into_source_groups():
    with pytest.raises(ValueError, match="global_batch=6 is not divisible by the 4 sources"):
        iterate_sources(small_config(batch=6), fake_sources(), process_index=0, process_count=1)


def test_modality_frequencies_follow_the_weights_of_what_each_source_has():
    config = small_config(batch=16)
    # `mixed` records lack densepose although its config lists it: only the record's modalities count.
    sources = fake_sources(size=40)
    sources["mixed"] = FakeSource(3, 40, names=("depth", "flow", "segmentation", "skeleton"))
    batches = take(iterate_sources(config, sources, process_index=0, process_count=1), 150)
    source = np.concatenate([b["source"] for b in batches])
    modality = np.concatenate([b["modality"] for b in batches])
    weights = dict(config.data.modality_weights)
    has = {name: tuple(config.data.source_modalities[name]) for name in SOURCES}
    has["mixed"] = ("depth", "flow", "segmentation", "skeleton")
    for s, name in enumerate(SOURCES):
        drawn = modality[source == s]
        allowed = [modalities.index(m) for m in has[name]]
        assert set(drawn) <= set(allowed), (name, set(drawn))
        p = np.array([weights[modalities.get(m).name] for m in allowed])
        p /= p.sum()
        counts = np.array([(drawn == m).sum() for m in allowed])
        sigma = np.sqrt(len(drawn) * p * (1 - p))
        assert np.all(np.abs(counts - len(drawn) * p) < 4 * sigma), (name, counts, len(drawn) * p)


def test_curriculum_stage_filters_sources_and_modalities_by_step():
    config = small_config(batch=8)
    config.train.curriculum = ((0, ("depth", "flow", "densepose"), ("single_person",)), (3, (), ()))
    batches = take(iterate_sources(config, fake_sources(), process_index=0, process_count=1, start_step=1), 5)
    stage1 = [modalities.index(n) for n in ("depth", "flow", "densepose")]
    for step, batch in enumerate(batches, start=1):
        assert batch["rgb"].shape == (8, 1, 2, 2, pixel.CHANNELS)  # same shapes: nothing recompiles
        if step < 3:
            assert (batch["source"] == 0).all() and set(batch["modality"]) <= set(stage1)
        else:
            np.testing.assert_array_equal(np.bincount(batch["source"], minlength=4), [2, 2, 2, 2])
    # Stage 2 continues single_person's stream where stage 1 left it: no sample is repeated early.
    single = np.concatenate([sample_ids(b)[b["source"] == 0] for b in batches])
    assert len(set(single.tolist())) == len(single)


def test_two_hosts_read_disjoint_halves_of_the_single_host_batch():
    config = small_config(batch=8)
    whole = take(iterate_sources(config, fake_sources(), process_index=0, process_count=1), 4)
    halves = [take(iterate_sources(config, fake_sources(), process_index=h, process_count=2), 4) for h in (0, 1)]
    for step, batch in enumerate(whole):
        first, second = halves[0][step], halves[1][step]
        assert first["rgb"].shape[0] == second["rgb"].shape[0] == 4
        assert not set(sample_ids(first)) & set(sample_ids(second))
        for half in (first, second):  # each host's slice is balanced too
            np.testing.assert_array_equal(np.bincount(half["source"], minlength=4), [1, 1, 1, 1])
        for key in KEYS:
            np.testing.assert_array_equal(np.concatenate([first[key], second[key]]), batch[key])


def test_restored_state_reproduces_the_next_batches():
    config = small_config(batch=8)
    iterator = iterate_sources(config, fake_sources(size=10), process_index=0, process_count=1)
    for _ in range(3):
        next(iterator)
    state = json.loads(json.dumps(iterator.get_state()))
    expected = take(iterator, 4)  # crosses epochs: 10 records per source, 2 per batch
    restored = iterate_sources(config, fake_sources(size=10), process_index=0, process_count=1, start_step=7)
    restored.set_state(state)
    for want, got in zip(expected, take(restored, 4)):
        for key in KEYS:
            np.testing.assert_array_equal(want[key], got[key])
    # start_step gives the same batches as stepping there.
    later = take(iterate_sources(config, fake_sources(size=10), process_index=0, process_count=1, start_step=3), 1)[0]
    np.testing.assert_array_equal(sample_ids(later), sample_ids(expected[0]))


@pytest.mark.parametrize("saved_on,restored_on", [(1, 2), (2, 1), (2, 4)])
def test_a_state_saved_on_some_hosts_restores_on_any_other_count(saved_on, restored_on):
    """Elastic resume: the saved data position is a global step, so after a restore on another number
    of hosts their slices of every later global batch are exactly the uninterrupted run's samples."""
    config = small_config(batch=8)
    whole = take(iterate_sources(config, fake_sources(size=10), process_index=0, process_count=1), 7)
    saver = iterate_sources(config, fake_sources(size=10), process_index=0, process_count=saved_on)
    for _ in range(3):
        next(saver)
    state = json.loads(json.dumps(saver.get_state()))  # what the checkpoint's JSON item holds
    saver.close()
    parts = []
    for host in range(restored_on):
        restored = iterate_sources(config, fake_sources(size=10), process_index=host, process_count=restored_on)
        restored.set_state(state)
        parts.append(take(restored, 4))
    for step in range(4):
        for key in KEYS:
            np.testing.assert_array_equal(np.concatenate([p[step][key] for p in parts]), whole[3 + step][key])


def test_a_host_count_that_does_not_divide_the_batch_names_batches_that_would():
    with pytest.raises(ValueError, match=r"global_batch=8 is not divisible by the 3 hosts.*a global batch of 6 or 9 "
                                         r"would divide.*run it on a host count that divides 8"):
        iterate_sources(small_config(batch=8), fake_sources(), process_index=0, process_count=3)


def test_each_epoch_is_a_new_permutation_of_every_source():
    config = small_config(batch=8)
    batches = take(iterate_sources(config, fake_sources(size=10), process_index=0, process_count=1), 10)
    ids = np.concatenate([sample_ids(b)[b["source"] == 2] for b in batches]) % 100000
    first, second = ids[:10], ids[10:]
    assert sorted(first) == sorted(second) == list(range(10))
    assert list(first) != list(second)


def _write_shards(directory, bad_every=0):
    with DatasetWriter(directory, latent="pixel", text_encoder="minilm", shard_size=8) as writer:
        for s in range(4):
            for i in range(16):
                writer.add(fake_record(s, i))
    if bad_every:
        from array_record.python.array_record_module import ArrayRecordReader, ArrayRecordWriter

        # Damage every `bad_every`-th record of the `objects` shards (the ArrayRecord files stay valid).
        for path in sorted(directory.glob("objects-*.array_record")):
            reader = ArrayRecordReader(str(path))
            payloads = [reader.read() for _ in range(reader.num_records())]
            reader.close()
            writer = ArrayRecordWriter(str(path), "group_size:1")
            for i, payload in enumerate(payloads):
                writer.write(payload[:-5] + b"xxxxx" if i % bad_every == 0 else payload)
            writer.close()


def test_corrupt_record_is_skipped_and_counted(tmp_path):
    _write_shards(tmp_path, bad_every=8)  # records 0 and 8 of the 16 `objects` records
    config = small_config(batch=8, path=str(tmp_path), max_bad_fraction=0.2)
    iterator = make_iterator(config, process_index=0, process_count=1)
    batches = take(iterator, 8)  # 16 objects samples: the whole stream once
    assert iterator.bad_records >= 2  # read-ahead may have met them again in the next epoch
    for batch in batches:
        np.testing.assert_array_equal(np.bincount(batch["source"], minlength=4), [2, 2, 2, 2])
    objects = set((np.concatenate([sample_ids(b)[b["source"] == 2] for b in batches]) % 100000).tolist())
    assert not {0, 8} & objects and len(objects) >= 13  # each bad one replaced by its stream neighbour


def test_too_many_corrupt_records_stop_the_run_naming_shard_and_record(tmp_path):
    _write_shards(tmp_path, bad_every=2)
    config = small_config(batch=8, path=str(tmp_path), max_bad_fraction=0.05)
    iterator = make_iterator(config, process_index=0, process_count=1)
    with pytest.raises(TooManyBadRecords, match=r"record \d+ of shard .*objects-0000[01]\.array_record failed"):
        take(iterator, 8)


def test_worker_processes_give_the_same_batches_and_restore(tmp_path):
    _write_shards(tmp_path)
    config = small_config(batch=8, path=str(tmp_path))
    expected = take(make_iterator(config, process_index=0, process_count=1), 5)
    config.data.workers = 2
    iterator = make_iterator(config, process_index=0, process_count=1)
    first = [next(iterator) for _ in range(2)]
    state = json.loads(json.dumps(iterator.get_state()))
    iterator.close()
    restored = make_iterator(config, process_index=0, process_count=1)
    restored.set_state(state)
    for want, got in zip(expected, first + take(restored, 3)):
        np.testing.assert_array_equal(sample_ids(want), sample_ids(got))
        np.testing.assert_array_equal(want["aux"], got["aux"])


def test_eval_clips_are_held_out_and_repeatable():
    from unityvideo_jax.data.input.heldout import EVAL_SEED_BASE, eval_seed
    from unityvideo_jax.data.input.sources import SYNTH_CLIPS

    config = small_config(frames=5, height=16, width=16)
    clips = list(eval_clips(config, ("three_person", "objects"), 2, seed=1))
    assert [c.family for c in clips] == ["three_person"] * 2 + ["objects"] * 2
    assert clips[0].depth.shape == (5, 16, 16) and clips[0].keypoints.shape[1] == 3
    again = next(eval_clips(config, ("three_person",), 1, seed=1))
    np.testing.assert_array_equal(again.rgb, clips[0].rgb)
    assert eval_seed(0, 0) == EVAL_SEED_BASE >= SYNTH_CLIPS


def test_validation_and_test_clips_never_meet():
    """Settings are chosen on validation clips, numbers reported on test clips: disjoint seed ranges."""
    from unityvideo_jax.data.input.heldout import SEEDS_PER_EVAL_SEED, SPLITS, eval_seed

    last_validation = eval_seed(SPLITS["test"] // SEEDS_PER_EVAL_SEED - 1, SEEDS_PER_EVAL_SEED - 1, "validation")
    assert last_validation < eval_seed(0, 0, "test")
    config = small_config(frames=5, height=16, width=16)
    test = next(eval_clips(config, ("objects",), 1))  # the default split: test
    validation = next(eval_clips(config, ("objects",), 1, split="validation"))
    assert not np.array_equal(test.rgb, validation.rgb)
    np.testing.assert_array_equal(test.rgb, next(eval_clips(config, ("objects",), 1, split="test")).rgb)
    with pytest.raises(ValueError, match="split='train': expected one of validation, test"):
        next(eval_clips(config, ("objects",), 1, split="train"))
    with pytest.raises(ValueError, match="seed=65536"):
        next(eval_clips(config, ("objects",), 1, seed=SPLITS["test"] // SEEDS_PER_EVAL_SEED))
