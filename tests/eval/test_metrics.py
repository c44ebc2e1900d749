"""The metrics on hand-made cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from unityvideo_jax.eval import metrics


@pytest.fixture
def depth(rng):
    return rng.uniform(0.5, 30.0, (3, 8, 10)).astype(np.float32)


def _all(shape):
    return np.ones(shape, bool)


def test_perfect_depth_scores_zero_abs_rel_and_full_delta(depth):
    aligned = metrics.align_depth(depth, depth, _all(depth.shape))
    np.testing.assert_allclose(aligned, depth, rtol=1e-5)
    errors = metrics.depth_errors(aligned, depth, _all(depth.shape))
    assert errors == pytest.approx({"abs_rel": 0.0, "delta1": 1.0}, abs=1e-5)


@pytest.mark.parametrize("distort", [lambda d: 3.0 * d, lambda d: 1.0 / (0.5 / d + 0.2)])
def test_scale_in_depth_and_affine_disparity_are_aligned_away(depth, distort):
    valid = _all(depth.shape)
    scale, shift = metrics.depth_alignment(distort(depth), depth, valid)
    assert abs(scale - 1.0) > 0.1  # there was something to align
    aligned = metrics.align_depth(distort(depth), depth, valid)
    assert metrics.depth_errors(aligned, depth, valid)["abs_rel"] < 1e-4


def test_a_shift_in_metres_needs_the_depth_space_fit(depth):
    valid = _all(depth.shape)
    shifted = depth + 2.0
    assert metrics.depth_errors(metrics.align_depth(shifted, depth, valid, "depth"), depth, valid)["abs_rel"] < 1e-4
    assert metrics.depth_errors(metrics.align_depth(shifted, depth, valid, "inverse"), depth, valid)["abs_rel"] > 1e-3


def test_known_depth_error(depth):
    wrong = depth.copy()
    wrong[:, :, :5] *= 1.5  # half the pixels 50 % too far, the rest exact
    errors = metrics.depth_errors(wrong, depth, _all(depth.shape))
    assert errors == pytest.approx({"abs_rel": 0.25, "delta1": 0.5}, abs=1e-6)
    # Scoring only the exact half sees no error.
    exact = np.zeros(depth.shape, bool)
    exact[:, :, 5:] = True
    assert metrics.depth_errors(wrong, depth, exact)["abs_rel"] == pytest.approx(0.0, abs=1e-7)


def test_alignment_fits_on_valid_pixels_only(depth):
    pred = 2.0 * depth
    pred[0, 0, 0] = 1000.0  # one wild pixel outside the fit
    valid = _all(depth.shape)
    valid[0, 0, 0] = False
    aligned = metrics.align_depth(pred, depth, valid)
    assert metrics.depth_errors(aligned, depth, valid)["abs_rel"] < 1e-4


def test_end_point_error_of_a_known_shift(rng):
    flow = rng.normal(0, 2, (2, 6, 7, 2)).astype(np.float32)
    assert metrics.end_point_error(flow, flow, _all(flow.shape[:3])) == 0.0
    assert metrics.end_point_error(flow + np.array([3.0, 4.0]), flow, _all(flow.shape[:3])) == pytest.approx(5.0)
    mask = np.zeros(flow.shape[:3], bool)
    mask[0, :2] = True
    shifted = flow.copy()
    shifted[1] += 10.0  # outside the mask
    assert metrics.end_point_error(shifted, flow, mask) == 0.0


def _squares() -> np.ndarray:
    """Two frames, instance 1 a 4x4 square at the top left, instance 2 a 4x4 square at the bottom right."""
    gt = np.zeros((2, 10, 10), np.int32)
    gt[:, 0:4, 0:4] = 1
    gt[:, 6:10, 6:10] = 2
    return gt


def test_perfect_and_swapped_labellings_score_miou_one():
    gt = _squares()
    every = _all(gt.shape)
    perfect = {"miou": 1.0, "foreground_iou": 1.0, "second_iou": 1.0}
    assert metrics.segmentation_scores(gt, gt, every) == perfect
    swapped = np.choose(gt, [0, 7, 3])  # ids 1 -> 7, 2 -> 3
    assert metrics.segmentation_scores(swapped, gt, every) == perfect


def test_known_wrong_masks():
    gt = _squares()
    every = _all(gt.shape)
    half = gt.copy()
    half[:, 0:2, 0:4] = 0  # instance 1 half missed: IoU 0.5
    assert metrics.segmentation_scores(half, gt, every) == pytest.approx(
        {"miou": 0.75, "foreground_iou": 48 / 64, "second_iou": 1.0})  # now 1 is the smaller (8 < 16 pixels a frame)
    merged = (gt > 0).astype(np.int32)  # both instances as one: IoU 0.5 for one, the other missed
    assert metrics.segmentation_scores(merged, gt, every)["miou"] == pytest.approx(0.25)
    extra = gt.copy()
    extra[:, 0:2, 8:10] = 5  # a hallucinated instance counts as IoU 0
    assert metrics.segmentation_scores(extra, gt, every)["miou"] == pytest.approx(2 / 3)
    assert metrics.segmentation_scores(np.zeros_like(gt), gt, every) == {
        "miou": 0.0, "foreground_iou": 0.0, "second_iou": 0.0}


def test_second_instance_iou_follows_the_smaller_instance():
    gt = _squares()
    gt[:, 0:4, 0:5] = 1  # instance 1 is now the larger (20 against 16 pixels a frame)
    every = _all(gt.shape)
    found_first = np.where(gt == 1, 1, 0)  # the second instance missed
    assert metrics.ranked_instance_iou(found_first, gt, every, 1) == 1.0
    assert metrics.segmentation_scores(found_first, gt, every)["second_iou"] == 0.0
    found_second = np.where(gt == 2, 4, 0)
    found_second[:, 6:8, 6:10] = 0  # half of it
    assert metrics.segmentation_scores(found_second, gt, every)["second_iou"] == pytest.approx(0.5)
    merged = (gt > 0).astype(np.int32)  # one blob over both: matched to the larger, the second missed
    assert metrics.segmentation_scores(merged, gt, every)["second_iou"] == 0.0
    one = np.where(gt == 2, 0, gt)
    assert np.isnan(metrics.segmentation_scores(one, one, every)["second_iou"])  # no second instance
    # The ranking counts the scored pixels only: on the right half instance 2 is the larger.
    right = np.zeros(gt.shape, bool)
    right[:, :, 4:] = True
    assert metrics.ranked_instance_iou(found_second, gt, right, 1) == pytest.approx(0.5)


def test_matching_maximises_total_iou_not_greedy_pairs():
    # IoUs: a-1 0.43, a-2 0.40, b-1 0.40, b-2 0. Greedy takes a-1 first (total 0.43); the best
    # one-to-one matching is a-2 + b-1 (total 0.80).
    gt = np.zeros((1, 1, 14), np.int32)
    gt[0, 0, 0:10], gt[0, 0, 10:14] = 1, 2
    pred = np.zeros_like(gt)
    pred[0, 0, 4:14], pred[0, 0, 0:4] = 1, 2  # a, b
    matched, n_pred, n_gt = metrics.instance_ious(pred, gt, _all(gt.shape))
    assert (n_pred, n_gt) == (2, 2)
    assert matched.sum() == pytest.approx(0.8)


def test_pck_threshold_is_a_tenth_of_the_figure_box():
    keypoints = np.zeros((1, 1, 17, 2), np.float32)
    keypoints[0, 0, :, 1] = np.linspace(0, 100, 17)  # a figure 100 px tall: threshold 10 px
    visible = np.ones((1, 1, 17), bool)
    joints = keypoints[0, 0][None, :, None, :].copy()  # (F, 17, K=1, 2)
    found = np.ones((1, 17, 1), bool)
    assert metrics.keypoint_scores(joints, found, keypoints, visible) == {"pck": 1.0, "joint_precision": 1.0}
    joints[0, :8, 0, 0] += 9.0  # within 10 px
    joints[0, 8:, 0, 0] += 11.0  # beyond
    assert metrics.keypoint_scores(joints, found, keypoints, visible)["pck"] == pytest.approx(8 / 17)
    visible[0, 0, 8:] = False  # invisible keypoints are not scored
    assert metrics.keypoint_scores(joints, found, keypoints, visible)["pck"] == 1.0


def test_spurious_joints_lower_precision_not_pck():
    keypoints = np.stack(np.meshgrid(np.arange(17.0) * 5, [0.0]), -1).reshape(1, 1, 17, 2)
    visible = np.ones((1, 1, 17), bool)
    joints = np.concatenate([keypoints[0, 0][:, None], keypoints[0, 0][:, None] + 40.0], 1)[None]  # (1, 17, 2, 2)
    scores = metrics.keypoint_scores(joints, np.ones((1, 17, 2), bool), keypoints, visible)
    assert scores == pytest.approx({"pck": 1.0, "joint_precision": 0.5})


def test_densepose_part_accuracy():
    gt = np.zeros((1, 4, 4), np.uint8)
    gt[0, :2] = 3  # 8 body pixels
    uv = np.zeros((1, 4, 4, 2), np.float32)
    every = _all(gt.shape)
    perfect = {"part_accuracy": 1.0, "body_part_accuracy": 1.0, "uv_error": 0.0}
    assert metrics.densepose_scores(gt, uv, gt, uv, every) == perfect
    wrong = gt.copy()
    wrong[0, 0] = 5  # 4 of the 8 body pixels mislabelled
    scores = metrics.densepose_scores(wrong, uv + 0.25, gt, uv, every)
    assert scores == pytest.approx({"part_accuracy": 12 / 16, "body_part_accuracy": 0.5, "uv_error": 0.25})


def test_flicker_of_still_and_alternating_videos():
    still = np.full((4, 3, 3, 3), 90, np.uint8)
    every = _all(still.shape[:3])
    assert metrics.flicker(still, every) == 0.0
    alternating = np.zeros_like(still)
    alternating[1::2] = 255
    assert metrics.flicker(alternating, every) == pytest.approx(1.0)


def _moving_texture(rng, frames=4, size=12, step=(1.0, 2.0)):
    """A random texture translated by `step` pixels (x, y) per frame, and its exact flow."""
    big = rng.integers(0, 256, (size * 3, size * 3, 3)).astype(np.uint8)
    video = np.stack([big[size - int(step[1]) * t : 2 * size - int(step[1]) * t,
                          size - int(step[0]) * t : 2 * size - int(step[0]) * t] for t in range(frames)])
    flow = np.broadcast_to(np.array(step, np.float32), (frames, size, size, 2)).copy()
    return video, flow


def test_warping_error_is_zero_for_content_that_follows_the_flow(rng):
    video, flow = _moving_texture(rng)
    instances = np.zeros(video.shape[:3], np.int32)
    depth = np.ones(video.shape[:3], np.float32)
    visible = metrics.warp_visible(flow, instances, depth)
    every = _all(video.shape[:3])
    assert metrics.warping_error(video, flow, visible, every) == pytest.approx(0.0, abs=1e-6)
    # Pixels carried out of the frame (last column, bottom two rows) are not scored.
    assert not visible[:, -2:].any() and not visible[:, :, -1].any() and visible[:, :-2, :-1].all()
    still = np.repeat(video[:1], len(video), axis=0)  # the right content, not moving
    assert metrics.warping_error(still, flow, visible, every) > 0.1


def test_occluded_pixels_are_not_warped(rng):
    video, flow = _moving_texture(rng)
    instances = np.zeros(video.shape[:3], np.int32)
    instances[1:, 3:6, 3:6] = 4  # something else covers these pixels in the next frames
    depth = np.ones(video.shape[:3], np.float32)
    depth[1:, 8:, :] = 2.0  # a surface twice as far: not the same point
    visible = metrics.warp_visible(flow, instances, depth)
    ys, xs = np.mgrid[0:12, 0:12]
    lands_x, lands_y = xs + 1, ys + 2
    covered = (lands_x >= 3) & (lands_x < 6) & (lands_y >= 3) & (lands_y < 6)
    assert not visible[0][covered].any()
    assert not visible[0][(lands_y >= 8) & (lands_y < 12)].any()
