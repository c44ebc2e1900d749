"""Skeleton drawings: limbs and joints on black, and joints found again as colour blobs.

Joint j is a full-bright disc in hue j of 17; limbs are mid-grey lines. All limbs are drawn before
any joint so joints stay whole. Limbs carry no hue (chroma 0) so that, blurred in an unsure
prediction, they never read as a joint: the chroma of a pixel is the joints' alone. Decoding classifies each pixel
by its nearest colour (black, a joint, a limb), splits each joint's pixels into connected blobs and
returns the blob centroids: one candidate per figure that shows that joint. Which figure a blob
belongs to is left to the caller (`nearest_blob_distance` matches them to ground truth).

An unsure model's posterior mean draws no full-bright disc: its joints are dim, blurred blends that
the nearest colour calls black. A joint with no blob in a frame is read instead from its hue's
chroma map (`joint_peaks`): the local maxima of the chroma of pixels whose hue is nearest that
joint's, at least PEAK_SHARE of the strongest among the joints read so, and SURE_SHARE of the
strongest of all (noise around a full-bright disc is no joint), at most MAX_FIGURES of them. A clean
rendering has no chroma but its joints' (limbs are grey), so this finds nothing there.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from unityvideo_jax.data.render.colormaps import hue_palette, nearest_entry
from unityvideo_jax.data.render.keypoints import LIMBS, NUM_KEYPOINTS

JOINT_COLOURS = hue_palette(NUM_KEYPOINTS, 1.0)
PEAK_SHARE = 0.5  # a chroma peak counts from this share of the frame's strongest joint chroma
PEAK_FLOOR = 10.0  # and above this chroma (0..255): noise on black is no joint
SURE_SHARE = 0.2  # and above this share of the frame's strongest chroma of all (a noisy full-bright disc's)
MAX_FIGURES = 3  # candidates per joint and frame from the chroma peaks
LIMB_COLOUR = np.array([128, 128, 128], np.uint8)


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
            for i, j in LIMBS[kind]:
                if visibility[f, p, i] and visibility[f, p, j]:
                    _stroke(canvas, keypoints[f, p, i], keypoints[f, p, j], limb_half_width(width), LIMB_COLOUR)
        for p, j in zip(*np.nonzero(visibility[f])):
            _stroke(canvas, keypoints[f, p, j], keypoints[f, p, j], joint_radius(width), JOINT_COLOURS[j])
    return video


def draw_joints(joints: np.ndarray, found: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 video (F, H, W, 3) of decoded joint candidates (joints (F, 17, K, 2), found (F, 17, K)):
    each a full-bright disc in its joint's hue, with no limbs (which figure a candidate belongs to is
    not decoded)."""
    video = np.zeros((joints.shape[0], height, width, 3), np.uint8)
    for f, j, k in zip(*np.nonzero(found)):
        point = joints[f, j, k].astype(np.float64)
        _stroke(video[f], point, point, joint_radius(width), JOINT_COLOURS[j])
    return video


def find_joints(video: np.ndarray, min_area: int = 2) -> dict[str, np.ndarray]:
    """Joint candidates: `joints` (F, 17, K, 2) blob centroids (x, y) and `found` (F, 17, K)."""
    frames = video.shape[0]
    palette = np.concatenate([np.zeros((1, 3), np.uint8), JOINT_COLOURS, LIMB_COLOUR[None]])
    label = nearest_entry(video, palette)  # 0 black, 1..17 joints, 18 a limb
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
    for f, frame in enumerate(per_frame):
        if not all(frame):  # joints drawn dim (an unsure prediction's blend): read by hue
            peaks = joint_peaks(video[f], [j for j, candidates in enumerate(frame) if not candidates])
            per_frame[f] = [candidates or peaks[j] for j, candidates in enumerate(frame)]
    most = max([1] + [len(c) for frame in per_frame for c in frame])
    joints = np.zeros((frames, NUM_KEYPOINTS, most, 2), np.float32)
    found = np.zeros((frames, NUM_KEYPOINTS, most), bool)
    for f, frame in enumerate(per_frame):
        for j, candidates in enumerate(frame):
            for k, xy in enumerate(candidates):
                joints[f, j, k], found[f, j, k] = xy, True
    return {"joints": joints, "found": found}


def joint_peaks(frame: np.ndarray, joints: list[int] | None = None) -> list[list[np.ndarray]]:
    """Per joint, the (x, y) of up to MAX_FIGURES chroma peaks of its hue in one frame (H, W, 3) 0..255;
    only `joints` (default all) are read, and the share is of the strongest among them (a joint drawn
    full-bright elsewhere in the frame does not silence a dim one)."""
    joints = list(range(NUM_KEYPOINTS)) if joints is None else list(joints)
    frame = frame.astype(np.float32)
    top, low = frame.max(-1), frame.min(-1)
    chroma = top - low
    r, g, b = np.moveaxis(frame, -1, 0)
    safe = np.maximum(chroma, 1e-6)
    hue = np.where(top == r, ((g - b) / safe) % 6.0, np.where(top == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    joint = np.round(hue / 6.0 * NUM_KEYPOINTS).astype(int) % NUM_KEYPOINTS  # the palette's hue i / 17
    heat = {j: ndimage.gaussian_filter(np.where(joint == j, chroma, 0.0), 0.7) for j in joints}
    strongest = float(ndimage.gaussian_filter(chroma, 0.7).max())
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
