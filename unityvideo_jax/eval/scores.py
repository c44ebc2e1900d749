"""One prediction of a modality, scored against its clip's ground truth on both scopes.

A prediction is the dict a decoder returns (`renderings.decode(name, video)`), so a model's
rendering and a baseline's map go through the same scoring. Scopes: "all" pixels, and "object"
pixels (instances > 0: figures and objects). Keypoints lie on figures, so the two scopes give the
same PCK; the "all" scope adds `joint_precision` (spurious joints on the background lower it). On
object pixels `foreground_iou` is the recall of the foreground (false positives lie outside them).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.render import renderings
from unityvideo_jax.data.unisynth.clips import Clip
from unityvideo_jax.eval import metrics

SCOPES = ("all", "object")
# The number a table or plot shows first for each modality.
HEADLINE = {
    "depth": "abs_rel",
    "flow": "epe",
    "segmentation": "miou",
    "skeleton": "pck",
    "densepose": "body_part_accuracy",
}


def scope_masks(clip: Clip) -> dict[str, np.ndarray]:
    return {"all": np.ones(clip.instances.shape, bool), "object": clip.instances > 0}


def _depth(pred: dict, clip: Clip, mask: np.ndarray, scope: str) -> dict[str, float]:
    aligned = metrics.align_depth(pred["depth"], clip.depth, metrics.valid_depth(clip.depth))
    return metrics.depth_errors(aligned, clip.depth, mask)


def _flow(pred: dict, clip: Clip, mask: np.ndarray, scope: str) -> dict[str, float]:
    return {"epe": metrics.end_point_error(pred["flow"], clip.flow, mask)}


def _segmentation(pred: dict, clip: Clip, mask: np.ndarray, scope: str) -> dict[str, float]:
    return metrics.segmentation_scores(pred["instances"], clip.instances, mask)


def _skeleton(pred: dict, clip: Clip, mask: np.ndarray, scope: str) -> dict[str, float]:
    found = metrics.keypoint_scores(pred["joints"], pred["found"], clip.keypoints, clip.visibility)
    return found if scope == "all" else {"pck": found["pck"]}


def _densepose(pred: dict, clip: Clip, mask: np.ndarray, scope: str) -> dict[str, float]:
    return metrics.densepose_scores(pred["parts"], pred["uv"], clip.parts, clip.uv, mask)


SCORERS: dict[str, Callable[[dict, Clip, np.ndarray, str], dict[str, float]]] = {
    "depth": _depth,
    "flow": _flow,
    "segmentation": _segmentation,
    "skeleton": _skeleton,
    "densepose": _densepose,
}


def score_prediction(modality: str, prediction: dict, clip: Clip) -> dict[str, dict[str, float]]:
    """{scope: {metric: value}} of a decoded prediction of `modality` for `clip`."""
    name = modalities.get(modality).name
    return {scope: SCORERS[name](prediction, clip, mask, scope) for scope, mask in scope_masks(clip).items()}


def _mode(stack: np.ndarray) -> np.ndarray:
    """Per-pixel most frequent value of integer maps stacked on axis 0 (ties: the smallest value)."""
    values = np.arange(int(stack.max(initial=0)) + 1)
    counts = (stack[..., None] == values).sum(0)
    return counts.argmax(-1).astype(stack.dtype)


def _merge_densepose(preds: list[dict]) -> dict:
    parts = _mode(np.stack([p["parts"] for p in preds]))
    agree = np.stack([p["parts"] == parts for p in preds])[..., None]
    uv = (np.stack([p["uv"] for p in preds]) * agree).sum(0) / np.maximum(agree.sum(0), 1)
    return {"parts": parts, "uv": uv.astype(np.float32)}


# How draws of one prediction are averaged: in the quantity's own space (a mean colour of a depth or
# instance colour map decodes to a depth or an instance no draw showed). Depth: the mean disparity (the
# space depth is aligned in); flow: the mean vector; DensePose parts: the per-pixel majority.
# Segmentation draws are averaged as renderings: the mean colour of the primaries is the mean of the
# chances each draw gives (segmentation_image.py). Skeletons have no per-pixel quantity either.
MERGERS: dict[str, Callable[[list[dict]], dict]] = {
    "depth": lambda preds: {"depth": (1.0 / np.mean([1.0 / p["depth"] for p in preds], 0)).astype(np.float32)},
    "flow": lambda preds: {"flow": np.mean([p["flow"] for p in preds], 0).astype(np.float32)},
    "densepose": _merge_densepose,
}


def decode_draws(modality: str, videos: list[np.ndarray]) -> dict[str, np.ndarray]:
    """One prediction from several draws (uint8 renderings (F, H, W, 3)) of `modality` (see MERGERS)."""
    name = modalities.get(modality).name
    if len(videos) == 1 or name not in MERGERS:
        mean = np.mean(np.stack(videos).astype(np.float32), 0)
        return renderings.decode(name, np.clip(np.round(mean), 0, 255).astype(np.uint8))
    return MERGERS[name]([renderings.decode(name, v) for v in videos])


def score_draws(modality: str, videos: list[np.ndarray], clip: Clip) -> dict[str, dict[str, float]]:
    """Score the draws of one prediction, merged as `decode_draws` merges them."""
    return score_prediction(modality, decode_draws(modality, videos), clip)


def score_rendering(modality: str, video: np.ndarray, clip: Clip) -> dict[str, dict[str, float]]:
    """Decode a rendering (uint8 (F, H, W, 3)) of `modality` and score it against `clip`."""
    return score_prediction(modality, renderings.decode(modality, video), clip)


def score_generation(video: np.ndarray, clip: Clip | None) -> dict[str, dict[str, float]]:
    """Flicker of a generated video, and its warping error under `clip`'s flow when the video should
    follow `clip` (conditional generation); with no clip only flicker on all pixels is defined."""
    if clip is None:
        everything = np.ones(video.shape[:3], bool)
        return {"all": {"flicker": metrics.flicker(video, everything)}, "object": {"flicker": float("nan")}}
    visible = metrics.warp_visible(clip.flow, clip.instances, clip.depth)
    scored = {}
    for scope, mask in scope_masks(clip).items():
        warp = metrics.warping_error(video, clip.flow, visible, mask)
        scored[scope] = {"flicker": metrics.flicker(video, mask), "warp_error": warp}
    return scored


# Agreement of two predictions of one modality (evaluate's estimate-back consistency of a joint
# generation): the second, decoded, stands where the ground truth stands in the scorers above, on all
# pixels (a generated video has no ground-truth objects). Skeletons: a reference joint counts as
# matched when an estimated candidate of the same joint lies within PCK_THRESHOLD x the size of the
# box around the frame's reference joints (one box for all its figures: which joint is whose is not
# decoded).
def _skeleton_agreement(pred: dict, truth: dict) -> dict[str, float]:
    joints, found = truth["joints"], truth["found"]
    boxes = []
    for frame, seen in zip(joints, found):
        points = frame[seen]
        boxes.append((points.max(0) - points.min(0)).max() if len(points) else 0.0)
    reach = metrics.PCK_THRESHOLD * np.asarray(boxes, np.float64)[:, None, None, None]
    gap = np.linalg.norm(joints[:, :, :, None, :] - pred["joints"][:, :, None], axis=-1)  # (F, 17, K, K')
    close = (gap <= reach) & found[..., None] & pred["found"][:, :, None, :]
    share = lambda hits: float(hits.mean()) if hits.size else float("nan")  # noqa: E731
    return {"pck": share(close.any(-1)[found]), "joint_precision": share(close.any(2)[pred["found"]])}


AGREEMENT: dict[str, Callable[[dict, dict, np.ndarray], dict[str, float]]] = {
    "depth": lambda p, t, m: metrics.depth_errors(
        metrics.align_depth(p["depth"], t["depth"], metrics.valid_depth(t["depth"])), t["depth"], m),
    "flow": lambda p, t, m: {"epe": metrics.end_point_error(p["flow"], t["flow"], m)},
    "segmentation": lambda p, t, m: metrics.segmentation_scores(p["instances"], t["instances"], m),
    "skeleton": lambda p, t, m: _skeleton_agreement(p, t),
    "densepose": lambda p, t, m: metrics.densepose_scores(p["parts"], p["uv"], t["parts"], t["uv"], m),
}


def score_agreement(modality: str, videos: list[np.ndarray], reference: np.ndarray) -> dict[str, dict[str, float]]:
    """{"all": {metric: value}}: the draws of an estimate (merged as `decode_draws` merges them) scored
    against `reference` (a uint8 rendering (F, H, W, 3) of `modality`, decoded the same way) as if it
    were the ground truth."""
    name = modalities.get(modality).name
    truth = decode_draws(name, [reference])
    everything = np.ones(np.shape(reference)[:3], bool)
    return {"all": AGREEMENT[name](decode_draws(name, videos), truth, everything)}
