"""No-input baselines: computed from training clips only, and the average map beats the constant."""

from __future__ import annotations

import numpy as np
import pytest

from unityvideo_jax import get_config, modalities
from unityvideo_jax.data.input.heldout import eval_clips
from unityvideo_jax.data.input.sources import SYNTH_CLIPS
from unityvideo_jax.data.render import renderings
from unityvideo_jax.data.unisynth.clips import TRAIN_FAMILIES
from unityvideo_jax.eval import baselines, scores

CLIPS = 4


@pytest.fixture(scope="module")
def config():
    return get_config("tiny_paper")


@pytest.fixture(scope="module")
def stats(config):
    return baselines.training_statistics(config, CLIPS)


def test_statistics_come_from_training_seeds_of_training_families(config, monkeypatch):
    seen = []
    real = baselines.render_clip

    def recording(family, seed, *size):
        seen.append((family, seed))
        return real(family, seed, *size)

    monkeypatch.setattr(baselines, "render_clip", recording)
    baselines._cached_statistics.cache_clear()
    baselines.training_statistics(config, 2)
    assert {f for f, _ in seen} == set(TRAIN_FAMILIES) and all(seed < SYNTH_CLIPS for _, seed in seen)
    assert len(seen) == 2 * len(TRAIN_FAMILIES)


def test_statistics_have_the_frame_size_and_plausible_values(config, stats):
    d = config.data
    assert stats.mean_depth.shape == (d.height, d.width) and stats.mean_flow.shape == (d.height, d.width, 2)
    assert 0.5 < stats.median_depth < 30.0
    # The ground plane: the bottom of the average frame is nearer than its top.
    assert stats.mean_depth[-4:].mean() < stats.mean_depth[:4].mean()
    assert stats.instance_mode.max() > 0 and stats.part_mode.max() > 0  # figures stand mid-frame
    assert stats.mean_keypoints.shape[1:] == (17, 2) and stats.mean_keypoints.shape[0] == 2  # two_person's slots


@pytest.mark.parametrize("name", sorted(baselines.BASELINES))
def test_baselines_are_decoder_shaped(config, stats, name):
    frames = config.data.frames
    clip = next(eval_clips(config, ["two_person"], 1))
    for modality in modalities.NAMES:
        prediction = baselines.BASELINES[name](modality, stats, frames)
        assert set(prediction) == set(renderings.decode(modality, renderings.render(modality, clip)))
        scores.score_prediction(modality, prediction, clip)  # scores without error


def _mean_score(config, stats, name, modality, metric, scope):
    values = []
    for clip in eval_clips(config, [f for f in TRAIN_FAMILIES if modality in config.data.source_modalities[f]], 3):
        prediction = baselines.BASELINES[name](modality, stats, clip.rgb.shape[0])
        values.append(scores.score_prediction(modality, prediction, clip)[scope][metric])
    return np.nanmean(values)


@pytest.mark.parametrize("modality, metric", [("depth", "abs_rel"), ("segmentation", "miou"), ("skeleton", "pck"),
                                              ("densepose", "body_part_accuracy")])
def test_the_average_map_beats_the_constant(config, stats, modality, metric):
    average = _mean_score(config, stats, "average", modality, metric, "object")
    constant = _mean_score(config, stats, "constant", modality, metric, "object")
    assert (average < constant) if metric == "abs_rel" else (average > constant), (average, constant)


def test_baselines_are_far_from_perfect(config, stats):
    assert _mean_score(config, stats, "average", "depth", "abs_rel", "object") > 0.2
    assert _mean_score(config, stats, "average", "segmentation", "miou", "object") < 0.5
