"""Metrics against UniSynth's exact ground truth, in plain numpy.

Every per-pixel metric takes a `mask` (F, H, W) of the pixels to score, so one function serves
both scopes the report shows (all pixels, and object/figure pixels: instances > 0). A metric with
nothing to score returns NaN, which the aggregation skips.

Depth alignment: the predicted depth (decoded from the colour map) is aligned to the ground truth
per video by a least-squares scale and shift in inverse depth (disparity), fitted on the video's
valid pixels (ground truth within the renderable range), as the affine-invariant video depth
benchmarks do. Inverse depth, because the far backdrop would dominate a fit in metres while its
disparity is near zero; an error of pure scale in depth is a scale in disparity, so it aligns away
exactly. The fit uses all valid pixels of the video whatever the scope; scopes only choose the
pixels that are scored.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from unityvideo_jax.data.render.renderings import DEPTH_FAR, DEPTH_NEAR

DELTA_THRESHOLD = 1.25
PCK_THRESHOLD = 0.1  # share of the figure's bounding-box size
LOWER_IS_BETTER = frozenset({"abs_rel", "epe", "uv_error", "flicker", "warp_error"})
OCCLUSION_DEPTH_TOLERANCE = 0.1  # relative depth change above which a warped pixel counts as occluded


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else float("nan")


# Depth.
def depth_alignment(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, space: str = "inverse") -> tuple[float, float]:
    """(scale, shift) minimising |scale * x(pred) + shift - x(gt)|^2 over `valid` pixels, where x is
    1 / depth (space="inverse") or depth itself (space="depth")."""
    to_space = {"inverse": lambda d: 1.0 / d, "depth": lambda d: d}[space]
    p, g = to_space(pred[valid].astype(np.float64)), to_space(gt[valid].astype(np.float64))
    if p.size == 0:
        return 1.0, 0.0
    design = np.stack([p, np.ones_like(p)], -1)
    (scale, shift), *_ = np.linalg.lstsq(design, g, rcond=None)  # min-norm if pred is constant
    return float(scale), float(shift)


def align_depth(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, space: str = "inverse") -> np.ndarray:
    """`pred` (F, H, W) after the per-video scale-and-shift alignment to `gt` (see the module doc)."""
    scale, shift = depth_alignment(pred, gt, valid, space)
    if space == "depth":
        return np.clip(scale * pred + shift, DEPTH_NEAR, DEPTH_FAR).astype(np.float32)
    # A fit can send some disparities below the farthest renderable one (or negative): clamp there.
    disparity = np.clip(scale / pred + shift, 1.0 / DEPTH_FAR, 1.0 / DEPTH_NEAR)
    return (1.0 / disparity).astype(np.float32)


def valid_depth(gt: np.ndarray) -> np.ndarray:
    return np.isfinite(gt) & (gt >= DEPTH_NEAR) & (gt <= DEPTH_FAR)


def depth_errors(aligned: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """AbsRel = mean |pred - gt| / gt and delta1 = share of max(pred/gt, gt/pred) < 1.25."""
    keep = mask & valid_depth(gt)
    p, g = aligned[keep].astype(np.float64), gt[keep].astype(np.float64)
    return {
        "abs_rel": _mean(np.abs(p - g) / g),
        "delta1": _mean((np.maximum(p / g, g / p) < DELTA_THRESHOLD).astype(np.float64)),
    }


# Optical flow.
def end_point_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Mean Euclidean distance in pixels between flows (F, H, W, 2) on `mask` pixels."""
    return _mean(np.linalg.norm(pred.astype(np.float64) - gt, axis=-1)[mask])


# Segmentation.
def instance_ious(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int, int]:
    """IoUs of the one-to-one matching (Hungarian, maximal total IoU) between the foreground
    instances of `pred` and `gt` (F, H, W), each instance taken over the whole video (so a swapped
    labelling costs nothing), counted on `mask` pixels; also the instance counts (pred, gt)."""
    matched, _, n_pred, n_gt = _matching(pred, gt, mask)
    return matched, n_pred, n_gt


def _matching(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """instance_ious, plus the ground-truth instance ids the matched IoUs belong to."""
    p, g = pred[mask], gt[mask]
    pred_ids, gt_ids = np.unique(p[p > 0]), np.unique(g[g > 0])
    if pred_ids.size == 0 or gt_ids.size == 0:
        return np.zeros(0), np.zeros(0, gt_ids.dtype), pred_ids.size, gt_ids.size
    p_index = np.searchsorted(pred_ids, p)  # only meaningful where p > 0
    g_index = np.searchsorted(gt_ids, g)
    both = (p > 0) & (g > 0)
    inter = np.zeros((pred_ids.size, gt_ids.size))
    np.add.at(inter, (p_index[both], g_index[both]), 1.0)
    p_area = np.bincount(p_index[p > 0], minlength=pred_ids.size)
    g_area = np.bincount(g_index[g > 0], minlength=gt_ids.size)
    iou = inter / (p_area[:, None] + g_area[None, :] - inter)
    rows, cols = linear_sum_assignment(-iou)
    return iou[rows, cols], gt_ids[cols], pred_ids.size, gt_ids.size


def ranked_instance_iou(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, rank: int) -> float:
    """Matched IoU (as in instance_ious; 0 when no predicted instance is matched to it) of the
    ground-truth instance with the `rank`-th largest area on `mask` pixels (1 = the largest; ties by
    id); NaN when the ground truth has fewer instances there."""
    matched, owners, _, _ = _matching(pred, gt, mask)
    return _ranked_iou(matched, owners, gt, mask, rank)


def _ranked_iou(matched: np.ndarray, owners: np.ndarray, gt: np.ndarray, mask: np.ndarray, rank: int) -> float:
    """ranked_instance_iou from a matching already made (_matching's IoUs and their ground-truth ids)."""
    g = gt[mask]
    ids, counts = np.unique(g[g > 0], return_counts=True)
    if ids.size < rank:
        return float("nan")
    hit = matched[owners == ids[np.lexsort((ids, -counts))][rank - 1]]
    return float(hit[0]) if hit.size else 0.0


def segmentation_scores(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """`miou`: matched IoUs summed over max(#pred, #gt) instances, so a missed instance and a
    hallucinated one each count as IoU 0; `foreground_iou`: IoU of pred > 0 against gt > 0;
    `second_iou`: the matched IoU of the second largest ground-truth instance (ranked_instance_iou):
    whether a model finds more than the one object that dominates a clip."""
    matched, owners, n_pred, n_gt = _matching(pred, gt, mask)  # one matching serves all three
    count = max(n_pred, n_gt)
    fg_p, fg_g = (pred > 0) & mask, (gt > 0) & mask
    union = np.count_nonzero(fg_p | fg_g)
    return {
        "miou": float(matched.sum() / count) if count else float("nan"),
        "foreground_iou": float(np.count_nonzero(fg_p & fg_g) / union) if union else float("nan"),
        "second_iou": _ranked_iou(matched, owners, gt, mask, 2),
    }


# Keypoints.
def figure_sizes(keypoints: np.ndarray) -> np.ndarray:
    """(F, P) bounding-box size of each figure: the longer side of the box around its 17 keypoints."""
    extent = keypoints.max(axis=2) - keypoints.min(axis=2)  # (F, P, 2)
    return extent.max(-1)


def keypoint_scores(joints: np.ndarray, found: np.ndarray, keypoints: np.ndarray, visibility: np.ndarray,
                    threshold: float = PCK_THRESHOLD) -> dict[str, float]:
    """`pck`: share of visible keypoints (F, P, 17) with a predicted candidate of the same joint
    (joints (F, 17, K, 2), found (F, 17, K)) within threshold x the figure's size; `joint_precision`:
    share of predicted candidates within that distance of a visible keypoint of the same joint."""
    gap = np.linalg.norm(keypoints[:, :, :, None, :] - joints[:, None], axis=-1)  # (F, P, 17, K)
    reach = threshold * figure_sizes(keypoints)[:, :, None, None]
    close = (gap <= reach) & found[:, None] & visibility[..., None]
    return {
        "pck": _mean(close.any(-1)[visibility].astype(np.float64)),
        "joint_precision": _mean(close.any(1)[found].astype(np.float64)),
    }


# DensePose.
def densepose_scores(parts: np.ndarray, uv: np.ndarray, gt_parts: np.ndarray, gt_uv: np.ndarray,
                     mask: np.ndarray) -> dict[str, float]:
    """`part_accuracy` on `mask` pixels (background = part 0 counts); `body_part_accuracy` and
    `uv_error` (mean absolute UV difference) on the ground truth's body pixels within `mask`."""
    body = mask & (gt_parts > 0)
    return {
        "part_accuracy": _mean((parts == gt_parts)[mask].astype(np.float64)),
        "body_part_accuracy": _mean((parts == gt_parts)[body].astype(np.float64)),
        "uv_error": _mean(np.abs(uv.astype(np.float64) - gt_uv)[body]),
    }


# Generated video.
def flicker(video: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference of consecutive frames (0..1 per channel) on pixels `mask` holds in
    the earlier frame."""
    v = np.asarray(video, np.float32) / 255.0
    step = np.abs(v[1:] - v[:-1]).mean(-1)
    return _mean(step[mask[:-1]])


def bilinear(frames: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """frames (F, H, W, C) sampled at per-frame points x, y (F, H, W), clamped to the frame."""
    f, h, w = frames.shape[:3]
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    x0, y0 = np.minimum(np.floor(x).astype(int), w - 2), np.minimum(np.floor(y).astype(int), h - 2)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    t = np.arange(f)[:, None, None]
    top = frames[t, y0, x0] * (1 - fx) + frames[t, y0, x0 + 1] * fx
    bottom = frames[t, y0 + 1, x0] * (1 - fx) + frames[t, y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def warp_visible(flow: np.ndarray, instances: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(F - 1, H, W) pixels of frames 0..F-2 whose surface point is seen in the next frame: the flow
    lands inside it, on the same instance at all four bilinear neighbours, at a depth within
    OCCLUSION_DEPTH_TOLERANCE of the source's (an approximate occlusion test: the world moves
    little between frames)."""
    f, h, w = instances.shape
    ys, xs = np.mgrid[0:h, 0:w]
    x, y = xs + flow[:-1, ..., 0], ys + flow[:-1, ..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    t = np.arange(f - 1)[:, None, None]
    same = inside
    for yy in (np.floor(y), np.ceil(y)):
        for xx in (np.floor(x), np.ceil(x)):
            same = same & (instances[1:][t, yy.astype(int), xx.astype(int)] == instances[:-1])
    near = depth[1:][t, np.round(y).astype(int), np.round(x).astype(int)]
    return same & (np.abs(near - depth[:-1]) <= OCCLUSION_DEPTH_TOLERANCE * depth[:-1])


def warping_error(video: np.ndarray, flow: np.ndarray, visible: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference (0..1) between frame t and frame t + 1 sampled where the ground-truth
    flow carries each pixel, on `visible` (warp_visible) pixels that `mask` holds in frame t."""
    v = np.asarray(video, np.float32) / 255.0
    h, w = v.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w]
    warped = bilinear(v[1:], xs + flow[:-1, ..., 0], ys + flow[:-1, ..., 1])
    return _mean(np.abs(warped - v[:-1]).mean(-1)[visible & mask[:-1]])
