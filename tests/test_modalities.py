"""The modality registry, and each modality's rendering decoding back to its ground truth."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from unityvideo_jax import modalities
from unityvideo_jax.data.render import renderings, segmentation_image
from unityvideo_jax.data.render.skeleton_image import JOINT_CHART, JOINT_COLOURS, LIMB_LEVEL, nearest_blob_distance
from unityvideo_jax.data.unisynth.clips import render_clip

ROOT_DIR = pathlib.Path(__file__).resolve().parents[1]

CASES = (("two_person", 2), ("mixed", 1), ("quadruped", 0), ("three_person", 3), ("single_person", 4))


@pytest.fixture(scope="module")
def clips():
    return [render_clip(family, seed, frames=3, height=80, width=80) for family, seed in CASES]


def _noisy(video: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    if sigma == 0:
        return video
    return np.clip(video + np.random.default_rng(seed).normal(0.0, sigma, video.shape), 0, 255)


def test_registry_order_names_and_release_alias():
    assert modalities.NAMES == ("depth", "flow", "segmentation", "skeleton", "densepose")
    assert modalities.index("raft") == modalities.index("flow") == 1
    with pytest.raises(ValueError, match="unknown modality 'normals'"):
        renderings.render("normals", {})


def test_every_modality_renders_a_uint8_rgb_video(clips):
    for name in modalities.NAMES:
        video = renderings.render(name, clips[0])
        assert video.shape == clips[0].rgb.shape and video.dtype == np.uint8, name
        assert video.std() > 5, name  # not a blank video


@pytest.mark.parametrize("sigma, max_abs_rel", [(0, 0.004), (3, 0.02)])
def test_depth_round_trip(clips, sigma, max_abs_rel):
    errors = []
    for clip in clips:
        decoded = renderings.decode("depth", _noisy(renderings.render("depth", clip), sigma))["depth"]
        errors.append(np.abs(decoded - clip.depth) / clip.depth)
    assert np.mean(np.concatenate([e.ravel() for e in errors])) < max_abs_rel


def test_depth_colours_are_fixed_near_warm_and_far_cool():
    depth = np.array([[[0.5, 2.0, 50.0]]])  # (F, H, W) = (1, 1, 3)
    rgb = renderings.render_depth(depth).astype(int)[0, 0]
    assert rgb[0, 0] > rgb[0, 2] + 100  # near: red over blue
    assert rgb[2, 2] > rgb[2, 0] + 100  # far: blue over red
    # The same depth is the same colour whatever else is in the frame (no per-clip normalisation).
    wide = renderings.render_depth(np.array([[[2.0, 0.3, 90.0]]]))
    np.testing.assert_array_equal(wide[0, 0, 0], rgb[1])


@pytest.mark.parametrize("sigma, max_epe", [(0, 0.05), (3, 0.4)])
def test_flow_round_trip(clips, sigma, max_epe):
    errors = []
    for clip in clips:
        decoded = renderings.decode("raft", _noisy(renderings.render("flow", clip), sigma))["flow"]
        unsaturated = np.linalg.norm(clip.flow, axis=-1) < renderings.FLOW_MAX_FRACTION * clip.flow.shape[2]
        errors.append(np.linalg.norm(decoded - clip.flow, axis=-1)[unsaturated])
    assert np.mean(np.concatenate(errors)) < max_epe


def test_flow_posterior_mean_decodes_to_the_mean_motion(clips):
    """A blend of renderings decodes to the blend of their flows (within the wheel's quantisation):
    opposite motions cancel, a motion blended with rest halves."""
    for clip in clips[:3]:
        flow = np.clip(clip.flow, -2.0, 2.0)  # inside the saturation limit of an 80-pixel frame
        forward, backward = renderings.render_flow(flow).astype(np.float32), renderings.render_flow(-flow)
        rest = renderings.render_flow(np.zeros_like(flow)).astype(np.float32)
        cancel = renderings.decode_flow((forward + backward) / 2.0)["flow"]
        half = renderings.decode_flow((forward + rest) / 2.0)["flow"]
        moving = np.linalg.norm(flow, axis=-1) > 0.5
        assert np.mean(np.linalg.norm(cancel, axis=-1)[moving]) < 0.25 * np.mean(np.linalg.norm(flow, axis=-1)[moving])
        assert np.mean(np.linalg.norm(half - flow / 2.0, axis=-1)[moving]) < 0.15


def test_flow_wheel_colours():
    limit = renderings.FLOW_MAX_FRACTION * 10
    flow = np.array([[0.0, 0.0], [limit, 0.0], [-limit, 0.0], [0.0, 3 * limit]]).reshape(1, 1, 4, 2)
    flow = np.pad(flow, ((0, 0), (0, 0), (0, 6), (0, 0)))  # a 10-pixel-wide frame
    rgb = renderings.render_flow(flow)[0, 0]
    np.testing.assert_array_equal(rgb[0], [255, 255, 255])  # at rest: white
    np.testing.assert_array_equal(rgb[1], [255, 0, 0])  # right: red
    np.testing.assert_array_equal(rgb[2], [0, 197, 255])  # left: opposite, 2.5 of the 11 cyan->blue steps
    decoded = renderings.decode_flow(rgb[None, None])["flow"][0, 0]
    np.testing.assert_allclose(decoded[3], [0.0, limit], atol=0.05)  # longer flows saturate


def _mean_iou(a: np.ndarray, b: np.ndarray) -> float:
    ids = [i for i in np.unique(b) if i > 0]
    return float(np.mean([((a == i) & (b == i)).sum() / ((a == i) | (b == i)).sum() for i in ids]))


@pytest.mark.parametrize("sigma", [0, 8])
def test_segmentation_round_trip(clips, sigma):
    for clip in clips:
        decoded = renderings.decode("segmentation", _noisy(renderings.render("segmentation", clip), sigma))
        np.testing.assert_array_equal(decoded["instances"], segmentation_image.by_area(clip.instances))
        np.testing.assert_array_equal(decoded["foreground"], clip.instances > 0)
    # every palette entry, numbered by area (entry k drawn on 40 - k pixels)
    instances = np.concatenate([np.full(40 - k, k) for k in range(len(segmentation_image.SEGMENTATION_PALETTE))])
    instances = instances.reshape(1, 10, 61)  # 610 pixels
    video = renderings.render("segmentation", {"instances": instances})
    np.testing.assert_array_equal(renderings.decode("segmentation", _noisy(video, sigma))["instances"], instances)


def test_segmentation_palette_reads_blends_as_chances():
    palette = segmentation_image.SEGMENTATION_PALETTE.astype(float)
    gaps = np.linalg.norm(palette[:, None] - palette[None], axis=-1) + 1e9 * np.eye(len(palette))
    assert gaps.min() > 120
    np.testing.assert_array_equal(palette[1:4], 255 * np.eye(3))  # the three largest: the primaries
    assert (palette[4:].sum(-1) >= 1.5 * 255).all()  # the others: outside any mix of them and black
    red, green, blue = palette[1:4]
    pixels = [0.6 * red, 0.4 * red, 0.5 * red + 0.3 * green, 0.3 * red + 0.45 * green,
              0.2 * red + 0.2 * green + 0.2 * blue, 0.8 * red + 0.5 * green]  # the last overshoots: a sum of 1.3
    video = np.tile(np.array(pixels)[None, None], (1, 8, 1, 1))  # each blend on 8 pixels (no specks)
    np.testing.assert_array_equal(renderings.decode("segmentation", video)["instances"][0, 0], [1, 0, 1, 2, 1, 1])
    with pytest.raises(ValueError, match="merge or drop"):
        renderings.render("segmentation", {"instances": np.arange(24).reshape(1, 4, 6)})
    with pytest.raises(ValueError, match="ids > 0"):
        renderings.render("segmentation", {"instances": -np.ones((1, 2, 2), int)})


def test_segmentation_specks_of_an_unsure_prediction_join_an_instance():
    red, blue, white = segmentation_image.SEGMENTATION_PALETTE[[1, 3, 4]].astype(np.float32)
    video = np.zeros((2, 20, 20, 3), np.float32)
    video[:, 2:18, 2:18] = 0.8 * red + 0.1 * blue  # an unsure instance 1 (512 pixels)
    video[0, 5, 5:7] = 0.4 * red + 0.5 * blue  # two unsure pixels that lean to instance 3: a speck
    video[1, 9, 9] = white  # one clean pixel: a small instance of its own
    instances = renderings.decode("segmentation", video)["instances"]
    assert instances[0, 5, 5] == instances[0, 5, 6] == 1
    assert instances[1, 9, 9] == 4
    assert set(np.unique(instances)) == {0, 1, 4}


def test_instances_are_numbered_by_visible_area():
    instances = np.array([[[0, 7, 7, 3], [3, 3, 9, 0]], [[9, 3, 7, 0], [0, 0, 0, 0]]])  # 3: 4 px, 7: 3 px, 9: 2 px
    np.testing.assert_array_equal(segmentation_image.by_area(instances), np.select([instances == 3, instances == 7,
                                                                            instances == 9], [1, 2, 3], 0))
    tie = np.array([[[5, 2]]])  # equal areas keep the ids' order
    np.testing.assert_array_equal(segmentation_image.by_area(tie), [[[2, 1]]])
    assert segmentation_image.by_area(np.zeros((1, 2, 2), int)).max() == 0


@pytest.mark.parametrize("sigma", [0, 6])
def test_skeleton_round_trip(clips, sigma):
    errors, found, visible = [], 0, 0
    for clip in clips:
        decoded = renderings.decode("skeleton", _noisy(renderings.render("skeleton", clip), sigma))
        errors.append(nearest_blob_distance(decoded, clip.keypoints, clip.visibility))
        found, visible = found + decoded["found"].sum(), visible + clip.visibility.sum()
    # Few spurious joints: overlapping discs of two joints (both eyes and an ear) can read as a third.
    assert found <= visible * 1.02 + 1
    errors = np.concatenate(errors)
    assert len(errors) > 50
    assert np.mean(errors < 1.0) > 0.9  # pixels
    assert np.median(errors) < 0.35


@pytest.mark.parametrize("blur, dim, min_pck", [(1.0, 0.4, 0.85), (1.5, 0.3, 0.7)])
def test_skeleton_posterior_mean_reads_dim_blurred_joints(clips, blur, dim, min_pck):
    """An unsure model's mean: no disc full-bright (the nearest colour is black everywhere), joints
    still found by their hue's chroma peaks, near the truth and with few false candidates."""
    from scipy import ndimage

    from unityvideo_jax.data.render.colormaps import nearest_entry
    from unityvideo_jax.eval.metrics import keypoint_scores

    pcks, precisions = [], []
    for clip in clips:
        if not clip.visibility.any():
            continue
        video = renderings.render("skeleton", clip).astype(np.float32)
        mean = ndimage.gaussian_filter(video, (0, blur, blur, 0)) * dim
        assert not (1 <= nearest_entry(mean, np.concatenate([np.zeros((1, 3)), JOINT_COLOURS]))).any()
        scores = keypoint_scores(**renderings.decode("skeleton", mean), keypoints=clip.keypoints,
                                 visibility=clip.visibility)
        pcks.append(scores["pck"])
        precisions.append(scores["joint_precision"])
    assert len(pcks) >= 3
    assert np.mean(pcks) >= min_pck and np.mean(precisions) >= min_pck


def test_skeleton_joint_drawn_dim_beside_a_sure_one_is_found():
    """A frame where the model is sure of one joint (a full-bright disc) and unsure of another (a dim,
    blurred one): the dim joint is read from its chroma peak, and no other joint appears."""
    from scipy import ndimage

    keypoints = np.array([[[[10.0, 12.0], [40.0, 30.0]] + [[0.0, 0.0]] * 15]])
    sure, unsure = np.zeros((1, 1, 17), bool), np.zeros((1, 1, 17), bool)
    sure[0, 0, 0], unsure[0, 0, 1] = True, True
    draw = lambda seen: renderings.render(  # noqa: E731
        "skeleton", {"keypoints": keypoints, "visibility": seen, "size": (48, 48)}).astype(np.float32)
    frame = draw(sure) + 0.6 * ndimage.gaussian_filter(draw(unsure), (0, 1.0, 1.0, 0))
    decoded = renderings.decode("skeleton", frame)
    found = decoded["found"][0]
    assert found[0].sum() == 1 and found[1].sum() == 1 and found[2:].sum() == 0
    np.testing.assert_allclose(decoded["joints"][0, 1, 0], [40.0, 30.0], atol=0.5)


def test_skeleton_noise_on_black_is_no_joint():
    noise = np.clip(np.random.default_rng(0).normal(0.0, 6.0, (3, 32, 32, 3)), 0, 255)
    assert renderings.decode("skeleton", noise)["found"].sum() == 0


def test_skeleton_limbs_are_dim_and_read_as_their_end_joints(clips):
    """A limb pixel is LIMB_LEVEL strong and shows the chart place of one of the limb's joints, so a
    blurred limb adds to its own joints' evidence and to no other joint's."""
    for clip in clips:
        video = renderings.render("skeleton", clip).astype(np.float32)
        drawn, joint = video.max(-1) > 0, video[..., 0] == 255
        limb = video[drawn & ~joint]
        assert len(limb) and (limb[:, 0] == LIMB_LEVEL).all()
        places = limb[:, 1:] / LIMB_LEVEL
        assert np.abs(places[:, None] - JOINT_CHART).max(-1).min(-1).max() < 1 / LIMB_LEVEL


def _joint_disc(joint: int, xy=(12.0, 12.0)) -> np.ndarray:
    keypoints = np.zeros((1, 1, 17, 2))
    keypoints[0, 0, joint] = xy
    visibility = np.zeros((1, 1, 17), bool)
    visibility[0, 0, joint] = True
    return renderings.render("skeleton", {"keypoints": keypoints, "visibility": visibility, "size": (24, 24)}).astype(
        np.float32)


def _read_as(video: np.ndarray) -> set[int]:
    return set(np.nonzero(renderings.decode("skeleton", video)["found"][0].any(-1))[0].tolist())


def test_skeleton_posterior_mean_of_neighbouring_joints_reads_as_one_of_them():
    left_wrist, right_wrist, left_elbow, left_hip = (_joint_disc(j) for j in (9, 10, 7, 11))
    assert _read_as(0.5 * left_wrist + 0.5 * right_wrist) <= {9, 10}  # unsure of the side: a wrist
    assert len(_read_as(0.5 * left_wrist + 0.5 * right_wrist)) == 1
    assert _read_as(0.3 * left_elbow + 0.3 * left_wrist) <= {7, 9, 11}  # dim, between rows: a neighbour
    assert _read_as(0.7 * left_hip + 0.3 * left_wrist) == {11}  # the likelier one
    # A hue per joint would read the mean of a shoulder and an ankle as some joint between them; here
    # the mean stays on the body's rows but not on either end: the test pins that it is one joint.
    assert len(_read_as(0.5 * _joint_disc(5) + 0.5 * _joint_disc(15))) == 1


def test_skeleton_draws_only_visible_joints_on_black():
    keypoints = np.array([[[[10.0, 10.0], [30.0, 30.0]] + [[50.0, 50.0]] * 15]])
    visibility = np.zeros((1, 1, 17), bool)
    visibility[0, 0, :2] = True
    video = renderings.render("skeleton", {"keypoints": keypoints, "visibility": visibility, "size": (64, 64)})
    assert video[0, 50, 50].max() == 0  # invisible joint: not drawn
    np.testing.assert_array_equal(video[0, 10, 10], JOINT_COLOURS[0])
    assert video[0, 20, 20].max() > 0  # the limb nose - left eye between them
    assert video[0, 5, 50].max() == 0


# A chart's part rectangle spans 30-70 levels of a channel, so U and V read to ~1/60 on a clean
# rendering and noise moves them that much more than it would a full channel.
@pytest.mark.parametrize("sigma, median, min_part_accuracy, max_uv_error", [(0, 1, 1.0, 0.01), (4, 3, 0.98, 0.08)])
def test_densepose_round_trip(clips, sigma, median, min_part_accuracy, max_uv_error):
    for clip in clips:
        decoded = renderings.decode("densepose", _noisy(renderings.render("densepose", clip), sigma), median=median)
        assert (decoded["parts"] == clip.parts).mean() >= min_part_accuracy
        on_body = clip.parts > 0
        assert np.abs(decoded["uv"] - clip.uv)[on_body].mean() < max_uv_error


def test_densepose_median_filter_helps_a_noisy_high_resolution_rendering():
    clip = render_clip("single_person", 7, 3, 128, 128)
    noisy = _noisy(renderings.render("densepose", clip), 24)
    plain, filtered = (renderings.decode("densepose", noisy, median=m)["parts"] for m in (1, 3))
    assert (filtered == clip.parts).mean() > (plain == clip.parts).mean() + 0.005


def _chart_colour(part: int, u: float, v: float) -> np.ndarray:
    return renderings.render("densepose", {"parts": np.full((1, 1, 1), part), "uv": np.full((1, 1, 1, 2), [u, v])})[
        0, 0, 0].astype(np.float32)


def _decoded_part(colour: np.ndarray) -> int:
    return int(renderings.decode("densepose", colour.reshape(1, 1, 1, 3))["parts"][0, 0, 0])


def test_densepose_posterior_mean_decodes_to_a_likely_part():
    torso, black = _chart_colour(1, 0.5, 0.5), np.zeros(3, np.float32)
    upper_arm, lower_arm = _chart_colour(3, 0.9, 0.5), _chart_colour(5, 0.1, 0.5)
    left_hand, right_hand = _chart_colour(8, 0.5, 0.5), _chart_colour(7, 0.5, 0.5)
    # Unsure about the body: the chance of it decides, and the part is read whatever the chance.
    assert _decoded_part(0.6 * _chart_colour(11, 0.5, 0.5) + 0.4 * black) == 11
    assert _decoded_part(0.6 * torso + 0.4 * black) == 1
    assert _decoded_part(0.4 * torso + 0.6 * black) == 0
    # Unsure between touching parts: one of them, the likelier one away from their border.
    assert _decoded_part(0.5 * upper_arm + 0.5 * lower_arm) in (3, 5)
    assert _decoded_part(0.8 * _chart_colour(3, 0.5, 0.5) + 0.2 * _chart_colour(5, 0.5, 0.5)) == 3
    # Unsure between the two sides: the torso between them, not a part nobody drew.
    assert _decoded_part(0.5 * left_hand + 0.5 * right_hand) == 1
    # The old one-channel part code would read this blend of torso (1) and a foot (13) as a lower arm.
    assert _decoded_part(0.6 * torso + 0.4 * _chart_colour(13, 0.5, 0.5)) in (1, 9, 10)


def test_densepose_rejects_unknown_part_ids():
    with pytest.raises(ValueError, match="part ids span"):
        renderings.render("densepose", {"parts": np.full((1, 2, 2), 15), "uv": np.zeros((1, 2, 2, 2))})


def test_reading_of_a_clean_rendering_is_the_rendering(clips):
    for clip in clips:
        for name in ("depth", "flow", "segmentation", "densepose"):
            video = renderings.render(name, clip)
            np.testing.assert_array_equal(renderings.render_reading(name, video), video, err_msg=name)
        skeleton = renderings.render("skeleton", clip)
        reading = renderings.render_reading("skeleton", skeleton)
        joints = (skeleton[..., None, :] == JOINT_COLOURS).all(-1).any(-1)
        assert (reading[joints] == skeleton[joints]).all(-1).mean() > 0.8  # the discs (overlaps may shift one)
        assert (reading.max(-1) > 0).sum() < (skeleton.max(-1) > 0).sum()  # and no limbs


def test_reading_of_an_unsure_prediction_is_drawn_clean(clips):
    from scipy import ndimage

    clip = clips[0]
    dim = ndimage.gaussian_filter(renderings.render("skeleton", clip).astype(np.float32), (0, 1.0, 1.0, 0)) * 0.4
    reading = renderings.render_reading("skeleton", dim)
    drawn = reading.reshape(-1, 3)[reading.reshape(-1, 3).max(-1) > 0]
    assert len(drawn) and (drawn[:, None] == JOINT_COLOURS).all(-1).any(-1).all()  # full-bright joint hues only
    blend = 0.5 * renderings.render("segmentation", clip).astype(np.float32)  # half chance of every instance
    colours = np.unique(renderings.render_reading("segmentation", blend).reshape(-1, 3), axis=0)
    assert all((c == segmentation_image.SEGMENTATION_PALETTE).all(-1).any() for c in colours)


def test_render_and_decode_reject_bad_input(clips):
    with pytest.raises(ValueError, match="missing uv"):
        renderings.render("densepose", {"parts": clips[0].parts})
    with pytest.raises(ValueError, match=r"expected \(frames, height, width, 3\)"):
        renderings.decode("depth", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="size"):
        renderings.render("skeleton", {"keypoints": clips[0].keypoints, "visibility": clips[0].visibility})


def test_the_registry_loads_without_jax_and_the_root_names_load_on_use():
    code = (
        "import sys\n"
        "from unityvideo_jax import modalities\n"
        "assert modalities.index('raft') == 1\n"
        "heavy = sorted(m for m in ('jax', 'flax', 'numpy') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "from unityvideo_jax import UnityDiT, get_config\n"
        "assert UnityDiT.__name__ == 'UnityDiT' and get_config('tiny_paper').name == 'tiny_paper'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT_DIR)
