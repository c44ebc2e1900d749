"""Skeleton drawings: limbs and joints on black, and joints found again as colour blobs.

Joint j is a full-bright disc in hue j of 17; limb k of a figure's limb list is a half-bright line
in hue k. All limbs are drawn before any joint so joints stay whole. Decoding classifies each pixel
by its nearest colour (black, a joint, a limb), splits each joint's pixels into connected blobs and
returns the blob centroids: one candidate per figure that shows that joint. Which figure a blob
belongs to is left to the caller (`nearest_blob_distance` matches them to ground truth).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from unityvideo_jax.data.render.colormaps import hue_palette, nearest_entry
from unityvideo_jax.data.render.keypoints import LIMBS, NUM_KEYPOINTS

JOINT_COLOURS = hue_palette(NUM_KEYPOINTS, 1.0)
LIMB_COLOURS = hue_palette(NUM_KEYPOINTS, 0.5)


def joint_radius(width: int) -> float:
    """Disc radius in pixels: 1.5 at 64 px wide, growing slower than the frame so that close
    joints (eyes, ears, nose) overlap less at high resolution."""
    return max(1.5, width / 96)


def limb_half_width(width: int) -> float:
    return max(0.5, width / 256)


def _stroke(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, reach: float, colour: np.ndarray) -> None:
    """Paint every pixel whose centre lies within `reach` of the segment a -> b (a disc if a == b);
    only the segment's bounding rectangle is examined."""
    h, w = canvas.shape[:2]
    x0, y0 = np.maximum(np.floor(np.minimum(a, b) - reach), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(np.maximum(a, b) + reach) + 1, (w, h)).astype(int)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    offset = np.stack([xs, ys], -1) - a
    step = b - a
    along = np.clip((offset @ step) / max(float(step @ step), 1e-9), 0.0, 1.0)
    inside = np.linalg.norm(offset - along[..., None] * step, axis=-1) <= reach
    canvas[y0:y1, x0:x1][inside] = colour


def draw_skeletons(
    keypoints: np.ndarray, visibility: np.ndarray, kinds: tuple[str, ...], height: int, width: int
) -> np.ndarray:
    """uint8 video (F, H, W, 3) of figures' keypoints (F, P, 17, 2) with visibility (F, P, 17)."""
    video = np.zeros((keypoints.shape[0], height, width, 3), np.uint8)
    keypoints = keypoints.astype(np.float64)
    for f, canvas in enumerate(video):
        for p, kind in enumerate(kinds):
            for k, (i, j) in enumerate(LIMBS[kind]):
                if visibility[f, p, i] and visibility[f, p, j]:
                    _stroke(canvas, keypoints[f, p, i], keypoints[f, p, j], limb_half_width(width), LIMB_COLOURS[k])
        for p, j in zip(*np.nonzero(visibility[f])):
            _stroke(canvas, keypoints[f, p, j], keypoints[f, p, j], joint_radius(width), JOINT_COLOURS[j])
    return video


def find_joints(video: np.ndarray, min_area: int = 2) -> dict[str, np.ndarray]:
    """Joint candidates: `joints` (F, 17, K, 2) blob centroids (x, y) and `found` (F, 17, K)."""
    frames = video.shape[0]
    palette = np.concatenate([np.zeros((1, 3), np.uint8), JOINT_COLOURS, LIMB_COLOURS])
    label = nearest_entry(video, palette)  # 0 black, 1..17 joints, then limbs
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = True  # blobs never join across frames
    per_frame: list[list[list[np.ndarray]]] = [[[] for _ in range(NUM_KEYPOINTS)] for _ in range(frames)]
    for j in range(NUM_KEYPOINTS):
        mask = label == j + 1
        blobs, count = ndimage.label(mask, structure=in_plane)
        if count == 0:
            continue
        f, y, x = np.nonzero(mask)
        blob = blobs[f, y, x] - 1
        area = np.bincount(blob, minlength=count)
        centroids = np.stack([np.bincount(blob, c, count) / area for c in (f, x, y)], -1)  # (frame, x, y)
        for (frame, cx, cy), a in zip(centroids, area):
            if a >= min_area:
                per_frame[int(round(frame))][j].append(np.array([cx, cy]))
    most = max([1] + [len(c) for frame in per_frame for c in frame])
    joints = np.zeros((frames, NUM_KEYPOINTS, most, 2), np.float32)
    found = np.zeros((frames, NUM_KEYPOINTS, most), bool)
    for f, frame in enumerate(per_frame):
        for j, candidates in enumerate(frame):
            for k, xy in enumerate(candidates):
                joints[f, j, k], found[f, j, k] = xy, True
    return {"joints": joints, "found": found}


def nearest_blob_distance(decoded: dict[str, np.ndarray], keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """For every visible keypoint (F, P, 17) the pixel distance to the nearest decoded candidate of
    the same joint in the same frame (inf where there is none), flattened over visible ones."""
    gap = np.linalg.norm(keypoints[:, :, :, None, :] - decoded["joints"][:, None], axis=-1)  # (F, P, 17, K)
    gap = np.where(decoded["found"][:, None], gap, np.inf).min(-1)
    return gap[visibility]
