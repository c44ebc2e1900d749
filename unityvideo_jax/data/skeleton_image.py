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

from unityvideo_jax.data.colormaps import hue_palette, nearest_entry
from unityvideo_jax.data.keypoints import LIMBS, NUM_KEYPOINTS

JOINT_COLOURS = hue_palette(NUM_KEYPOINTS, 1.0)
LIMB_COLOURS = hue_palette(NUM_KEYPOINTS, 0.5)


def joint_radius(width: int) -> float:
    return max(1.5, 1.5 * width / 64)


def limb_half_width(width: int) -> float:
    return max(0.5, 0.5 * width / 64)


def _segment_distance(pixels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (N, S) from pixel centres (N, 2) to segments a -> b (S, 2)."""
    step = b - a
    along = np.clip(((pixels[:, None] - a) * step).sum(-1) / np.maximum((step * step).sum(-1), 1e-9), 0.0, 1.0)
    return np.linalg.norm(pixels[:, None] - (a + along[..., None] * step), axis=-1)


def _paint(canvas: np.ndarray, pixels: np.ndarray, distance: np.ndarray, reach: float, colours: np.ndarray) -> None:
    """Colour each pixel with the last shape (column) within `reach` of it, as if drawn in order."""
    inside = distance <= reach
    if inside.size == 0 or not inside.any():
        return
    last = inside.shape[1] - 1 - inside[:, ::-1].argmax(1)
    hit = inside.any(1)
    canvas.reshape(-1, 3)[hit] = colours[last[hit]]


def draw_skeletons(keypoints: np.ndarray, visibility: np.ndarray, kinds: tuple[str, ...], height: int, width: int) -> np.ndarray:
    """uint8 video (F, H, W, 3) of figures' keypoints (F, P, 17, 2) with visibility (F, P, 17)."""
    frames = keypoints.shape[0]
    video = np.zeros((frames, height, width, 3), np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float64)
    for f in range(frames):
        starts, ends, limb_colours = [], [], []
        for p, kind in enumerate(kinds):
            for k, (i, j) in enumerate(LIMBS[kind]):
                if visibility[f, p, i] and visibility[f, p, j]:
                    starts.append(keypoints[f, p, i])
                    ends.append(keypoints[f, p, j])
                    limb_colours.append(LIMB_COLOURS[k])
        if starts:
            distance = _segment_distance(pixels, np.array(starts), np.array(ends))
            _paint(video[f], pixels, distance, limb_half_width(width), np.array(limb_colours))
        p_idx, j_idx = np.nonzero(visibility[f])
        if len(p_idx):
            centres = keypoints[f, p_idx, j_idx].astype(np.float64)
            distance = np.linalg.norm(pixels[:, None] - centres[None], axis=-1)
            _paint(video[f], pixels, distance, joint_radius(width), JOINT_COLOURS[j_idx])
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
        ids = np.arange(1, count + 1)
        area = ndimage.sum_labels(mask, blobs, ids)
        centroids = np.array(ndimage.center_of_mass(mask, blobs, ids)).reshape(-1, 3)  # (frame, y, x)
        for (f, y, x), a in zip(centroids, area):
            if a >= min_area:
                per_frame[int(round(f))][j].append(np.array([x, y]))
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
