"""Skeleton drawings whose colours say which joint a pixel belongs to even when blended, and back.

Every drawn pixel is R = its strength (255 on a joint's disc, LIMB_LEVEL on a limb) times
(1, G', B'), where (G', B') is a place on a chart of the joints (JOINT_CHART): B' the joint's row
down a standing body (eyes, nose, ears, shoulders, elbows, hips, wrists, knees, ankles, in the order
they usually appear from top to bottom) and G' its side (the figure's right below 0.5, its left
above, the middle for the nose). A limb's pixels take the chart place of the nearer of its two
joints (a place in between could be a third joint's: the shoulder-hip limb would cross the elbows'
row). All limbs are drawn before any joint so joints stay whole; black is no skeleton.

Why a chart and not a hue per joint: the mean of what a pixel might be, which is what a model trained
with a squared error draws when it is unsure, is a blend, and a blend of hues is a hue of some other
joint (or grey). Here R is how much skeleton the pixel has, and (G, B) / R the mean chart place of
the joints it may show, which lies between joints that are neighbours on the body, so it reads as one
of them; a pair unsure between left and right reads as one side of the right row.

Decoding: each pixel's joint is the one whose chart place is nearest (G, B) / R. Pixels at least
halfway from LIMB_LEVEL to 255 in R are joint pixels: each joint's connected blobs give one
candidate per figure that shows it (their centroids). A joint with no blob in a frame (an unsure
prediction draws no full-bright disc) is read from its strength map (R over its pixels that are not
full-bright, lightly blurred): local maxima of at least PEAK_SHARE of the strongest among the joints
read so, SURE_SHARE of the frame's strongest of all and PEAK_FLOOR, at most MAX_FIGURES of them.
Which figure a candidate belongs to is left to the caller (`nearest_blob_distance` matches them to ground truth).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from unityvideo_jax.data.render.keypoints import LIMBS, NUM_KEYPOINTS

LIMB_LEVEL = 64.0  # a limb's strength (R), a quarter of a joint's: limbs show the pose, never a joint's blob
PEAK_SHARE = 0.35  # a strength peak counts from this share of the strongest among the joints read from peaks
PEAK_FLOOR = 12.0  # and above this strength (0..255): noise on black is no joint
SURE_SHARE = 0.2  # and above this share of the frame's strongest of all (noise near a sure joint)
MAX_FIGURES = 3  # candidates per joint and frame from the strength peaks
SIDE = 0.08  # the chart's half-distance between a left and a right joint: under half a row (0.125)


def _chart() -> np.ndarray:
    """(17, 2) chart places (side, row) in 0..1 of COCO's joints (keypoints.COCO_KEYPOINTS order)."""
    order = ("eye", "nose", "ear", "shoulder", "elbow", "hip", "wrist", "knee", "ankle")
    rows = {name: i / (len(order) - 1) for i, name in enumerate(order)}  # evenly spaced: the most room between rows
    places = [(0.5, rows["nose"])]
    for name in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        places += [(0.5 + SIDE, rows[name]), (0.5 - SIDE, rows[name])]  # left, right: the figure's left at right
    return np.array(places)


JOINT_CHART = _chart()
JOINT_COLOURS = np.round(255.0 * np.concatenate([np.ones((NUM_KEYPOINTS, 1)), JOINT_CHART], -1)).astype(np.uint8)


def joint_radius(width: int) -> float:
    """Disc radius in pixels: 1.5 at 64 px wide, growing slower than the frame so that close
    joints (eyes, ears, nose) overlap less at high resolution."""
    return max(1.5, width / 96)


def limb_half_width(width: int) -> float:
    return max(0.5, width / 256)


def _stroke(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, reach: float, colour) -> None:
    """Paint every pixel whose centre lies within `reach` of the segment a -> b (a disc if a == b);
    only the segment's bounding rectangle is examined. `colour` is an RGB, or a function of the
    pixels' places along the segment (N,) in 0..1 giving their RGBs (N, 3)."""
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
    canvas[y0:y1, x0:x1][inside] = colour(along[inside]) if callable(colour) else colour


def _limb_colour(i: int, j: int):
    """Pixel colours of the limb from joint i to joint j: LIMB_LEVEL x (1, the nearer joint's chart place)."""
    def colour(along: np.ndarray) -> np.ndarray:
        place = np.where(along[:, None] < 0.5, JOINT_CHART[i], JOINT_CHART[j])
        rgb = LIMB_LEVEL * np.concatenate([np.ones((len(along), 1)), place], -1)
        return np.round(rgb).astype(np.uint8)
    return colour


def draw_skeletons(
    keypoints: np.ndarray, visibility: np.ndarray, kinds: tuple[str, ...], height: int, width: int
) -> np.ndarray:
    """uint8 video (F, H, W, 3) of figures' keypoints (F, P, 17, 2) with visibility (F, P, 17)."""
    video = np.zeros((keypoints.shape[0], height, width, 3), np.uint8)
    keypoints = keypoints.astype(np.float64)
    for f, canvas in enumerate(video):
        for p, kind in enumerate(kinds):
            for i, j in LIMBS[kind]:
                if visibility[f, p, i] and visibility[f, p, j]:
                    _stroke(canvas, keypoints[f, p, i], keypoints[f, p, j], limb_half_width(width), _limb_colour(i, j))
        for p, j in zip(*np.nonzero(visibility[f])):
            _stroke(canvas, keypoints[f, p, j], keypoints[f, p, j], joint_radius(width), JOINT_COLOURS[j])
    return video


def draw_joints(joints: np.ndarray, found: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 video (F, H, W, 3) of decoded joint candidates (joints (F, 17, K, 2), found (F, 17, K)):
    each a full-strength disc in its joint's colour, with no limbs (which figure a candidate belongs to is
    not decoded)."""
    video = np.zeros((joints.shape[0], height, width, 3), np.uint8)
    for f, j, k in zip(*np.nonzero(found)):
        point = joints[f, j, k].astype(np.float64)
        _stroke(video[f], point, point, joint_radius(width), JOINT_COLOURS[j])
    return video


def joint_identity(video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of a rendering (..., 3) in 0..255: its strength R and the joint whose chart place
    is nearest (G, B) / R."""
    video = np.asarray(video, np.float32)
    strength = video[..., 0]
    place = np.clip(video[..., 1:] / np.maximum(strength, 1.0)[..., None], 0.0, 1.0)
    gap = ((place[..., None, :] - JOINT_CHART) ** 2).sum(-1)
    return strength, gap.argmin(-1)


def find_joints(video: np.ndarray, min_area: int = 2) -> dict[str, np.ndarray]:
    """Joint candidates: `joints` (F, 17, K, 2) blob centroids or strength peaks (x, y) and `found`
    (F, 17, K), read as the module doc says."""
    frames = video.shape[0]
    strength, joint = joint_identity(video)
    bright = strength >= (255.0 + LIMB_LEVEL) / 2
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = True  # blobs never join across frames
    per_frame: list[list[list[np.ndarray]]] = [[[] for _ in range(NUM_KEYPOINTS)] for _ in range(frames)]
    for j in range(NUM_KEYPOINTS):
        mask = bright & (joint == j)
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
    for f, frame in enumerate(per_frame):
        if not all(frame):  # joints drawn dim (an unsure prediction's blend): read from their strength
            missing = [j for j, candidates in enumerate(frame) if not candidates]
            dim = np.where(bright[f], 0.0, strength[f])  # a full-bright pixel is a blob's or nobody's
            peaks = joint_peaks(dim, joint[f], missing, float(strength[f].max()))
            per_frame[f] = [candidates or peaks[j] for j, candidates in enumerate(frame)]
    most = max([1] + [len(c) for frame in per_frame for c in frame])
    joints = np.zeros((frames, NUM_KEYPOINTS, most, 2), np.float32)
    found = np.zeros((frames, NUM_KEYPOINTS, most), bool)
    for f, frame in enumerate(per_frame):
        for j, candidates in enumerate(frame):
            for k, xy in enumerate(candidates):
                joints[f, j, k], found[f, j, k] = xy, True
    return {"joints": joints, "found": found}


def joint_peaks(strength: np.ndarray, joint: np.ndarray, joints: list[int], strongest: float) -> list[list[np.ndarray]]:
    """Per joint of `joints`, the (x, y) of up to MAX_FIGURES peaks of its strength in one frame
    (strength (H, W) where `joint` (H, W) names it, lightly blurred), at least PEAK_SHARE of the
    strongest among `joints` (a joint drawn full-bright elsewhere does not silence a dim one),
    SURE_SHARE of `strongest` (the frame's strongest of all) and PEAK_FLOOR; other joints get none."""
    heat = {j: ndimage.gaussian_filter(np.where(joint == j, strength, 0.0), 0.7) for j in joints}
    floor = max([PEAK_FLOOR, SURE_SHARE * strongest] + [PEAK_SHARE * float(h.max()) for h in heat.values()])
    peaks: list[list[np.ndarray]] = [[] for _ in range(NUM_KEYPOINTS)]
    for j, h in heat.items():
        ys, xs = np.nonzero((h == ndimage.maximum_filter(h, size=3)) & (h >= floor))
        order = np.argsort(-h[ys, xs])[:MAX_FIGURES]
        peaks[j] = [_refined(h, int(ys[i]), int(xs[i])) for i in order]
    return peaks


def _refined(heat: np.ndarray, y: int, x: int) -> np.ndarray:
    """The heat-weighted centre of the 3 x 3 window around a peak: sub-pixel (x, y)."""
    y0, x0 = max(y - 1, 0), max(x - 1, 0)
    window = heat[y0 : y + 2, x0 : x + 2]
    ys, xs = np.mgrid[y0 : y0 + window.shape[0], x0 : x0 + window.shape[1]]
    total = window.sum()
    return np.array([(xs * window).sum() / total, (ys * window).sum() / total])


def nearest_blob_distance(decoded: dict[str, np.ndarray], keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """For every visible keypoint (F, P, 17) the pixel distance to the nearest decoded candidate of
    the same joint in the same frame (inf where there is none), flattened over visible ones."""
    gap = np.linalg.norm(keypoints[:, :, :, None, :] - decoded["joints"][:, None], axis=-1)  # (F, P, 17, K)
    gap = np.where(decoded["found"][:, None], gap, np.inf).min(-1)
    return gap[visibility]
