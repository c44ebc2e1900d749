"""Render the ground truth, decode it, score it: the decoders must recover it almost exactly."""

from __future__ import annotations

import numpy as np
import pytest

from unityvideo_jax import modalities
from unityvideo_jax.data.render import renderings
from unityvideo_jax.data.unisynth.clips import FAMILIES, render_clip
from unityvideo_jax.eval import metrics, scores


@pytest.fixture(scope="module")
def clips():
    return [render_clip(family, 7, frames=5, height=32, width=32) for family in FAMILIES]


# (modality, metric, bound, lower is better); bounds hold on both scopes at the tiny eval size.
ROUND_TRIP = (
    ("depth", "abs_rel", 0.005, True),
    ("depth", "delta1", 0.999, False),
    ("flow", "epe", 0.2, True),  # flows beyond the colour wheel's saturation cost a little
    ("segmentation", "miou", 1.0, False),
    ("segmentation", "foreground_iou", 1.0, False),
    ("skeleton", "pck", 0.9, False),  # joints a pixel apart can merge into one blob at 32 px
    ("densepose", "body_part_accuracy", 0.999, False),
    ("densepose", "uv_error", 0.01, True),  # the body chart gives U and V steps of ~1/60
)


def _nothing_to_score(modality, clip, scope) -> bool:
    """Whether `clip` holds nothing for `modality`'s metrics to score on `scope`, from the ground truth
    alone: the one case metrics.py documents a metric as undefined (NaN)."""
    mask = scores.scope_masks(clip)[scope]
    scored = {
        "depth": mask & metrics.valid_depth(clip.depth),
        "flow": mask,
        "segmentation": mask & (clip.instances > 0),  # a perfect decoding finds no instance either
        "skeleton": clip.visibility,  # visible keypoints, whatever the scope
        "densepose": mask & (clip.parts > 0),  # body pixels
    }[modality]
    return not scored.any()


@pytest.mark.parametrize("modality, metric, bound, lower", ROUND_TRIP)
def test_rendered_ground_truth_scores_near_perfectly(clips, modality, metric, bound, lower):
    defined = 0
    for clip in clips:
        scored = scores.score_rendering(modality, renderings.render(modality, clip), clip)
        for scope in scores.SCOPES:
            assert metric in scored[scope], (clip.family, scope, sorted(scored[scope]))
            value = scored[scope][metric]
            if _nothing_to_score(modality, clip, scope):  # e.g. no body in `objects`: undefined, and says so
                assert np.isnan(value), (clip.family, scope, value)
                continue
            assert not np.isnan(value), (clip.family, scope)
            assert (value <= bound) if lower else (value >= bound), (clip.family, scope, value)
            defined += 1
    assert defined >= len(clips)  # most clips have something of every kind


def test_a_rendering_of_another_clip_scores_badly(clips):
    a, b = clips[1], clips[3]  # two_person against mixed
    for modality, metric, bound, lower in ROUND_TRIP[:5]:
        value = scores.score_rendering(modality, renderings.render(modality, b), a)["object"][metric]
        assert (value > 5 * bound) if lower else (value < 0.8 * bound), (modality, metric, value)


def test_scopes_and_metrics_per_modality(clips):
    clip = clips[1]
    scored = {m: scores.score_rendering(m, renderings.render(m, clip), clip) for m in modalities.NAMES}
    assert all(set(s) == set(scores.SCOPES) for s in scored.values())
    assert set(scored["skeleton"]["all"]) == {"pck", "joint_precision"} and set(scored["skeleton"]["object"]) == {"pck"}
    for modality, metric in scores.HEADLINE.items():
        assert metric in scored[modality]["object"]


def test_generation_scores(clips):
    clip = clips[0]
    real = scores.score_generation(clip.rgb, clip)
    assert set(real["all"]) == {"flicker", "warp_error"}
    assert real["all"]["warp_error"] < 0.5 * real["all"]["flicker"]  # the real video follows its flow
    noise = np.random.default_rng(0).integers(0, 256, clip.rgb.shape, dtype=np.uint8)
    assert scores.score_generation(noise, clip)["object"]["warp_error"] > 5 * real["object"]["warp_error"]
    free = scores.score_generation(clip.rgb, None)  # joint generation: no layout to follow
    assert free["all"]["flicker"] == pytest.approx(real["all"]["flicker"]) and np.isnan(free["object"]["flicker"])


def test_draws_are_averaged_in_the_quantity_space():
    from unityvideo_jax.data.unisynth.clips import render_clip

    clip = render_clip("two_person", 3, frames=3, height=32, width=32)
    near, far = np.full_like(clip.depth, 1.0), np.full_like(clip.depth, 3.0)
    videos = [renderings.render("depth", {"depth": d}) for d in (near, far)]
    merged = scores.decode_draws("depth", videos)["depth"]
    np.testing.assert_allclose(merged, 1.5, rtol=0.05)  # the mean disparity: 1 / ((1 + 1/3) / 2)
    # Segmentation: the mean of three drawn renderings, one of them wrong everywhere, reads as chances
    # of 2/3 for the truth.
    truth = renderings.render("segmentation", clip)
    wrong = renderings.render("segmentation", {"instances": np.where(clip.instances > 0, 0, 1)})
    merged = scores.decode_draws("segmentation", [truth, wrong, truth])
    assert scores.score_prediction("segmentation", merged, clip)["object"]["miou"] == 1.0
    # One draw is decoded as it is; skeletons are averaged as renderings.
    np.testing.assert_array_equal(scores.decode_draws("segmentation", [truth])["foreground"], clip.instances > 0)
    skeleton = renderings.render("skeleton", clip)
    assert scores.decode_draws("skeleton", [skeleton, skeleton])["found"].any()
