"""DensePose as a body chart that an unsure prediction can still be read from, and back.

A body pixel is drawn as R = 255 (on the body) and (G, B) = its place on a flat chart of the body in
a T-pose seen from the front: head on top, torso in the middle, the figure's right arm and leg on
the chart's left, hands and feet at the ends (BODY_CHART). Each part owns a rectangle of the chart,
and its (U, V) place the pixel inside it: U runs along the part from the joint nearest the torso, V
across it. Off the body everything is black.

Why not one channel per quantity (part index, U, V): the mean of what a pixel might be, which is what
a model trained with a squared error draws when it is unsure, then decodes to a part nobody drew
(the mean of parts 2 and 12 is part 7), and a pixel that may be background decodes to a low part.
Here the mean stays readable:
- R is the chance that the pixel is on the body, so R >= 128 decides body against background, and
  (G, B) / R is the mean chart place given the body, whatever that chance;
- chart neighbours are body neighbours (upper arm beside lower arm, hand at the arm's end), so a
  pixel unsure between two touching parts decodes to one of them, near their border;
- the torso, the most frequent part, sits in the middle: a pixel that may be on the left or the
  right limb decodes to the torso between them.
Decoding takes the part whose rectangle is nearest the mean chart place and its (U, V) from the
place inside it. A clean rendering decodes parts exactly and (U, V) to within a chart step (a part's
rectangle is 30-70 levels of a channel wide: U and V to ~1/60 on the long side).
Part ids follow unisynth.human (1 torso, 2 head, then right/left pairs: upper arm 3/4, lower arm
5/6, hand 7/8, upper leg 9/10, lower leg 11/12, foot 13/14); quadrupeds reuse the limb ids.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

NUM_PARTS = 14
ON_BODY = 255.0
MARGIN = 2.0 / 255.0  # rectangles are filled only this far inside their edges: a rounded colour stays in its own


def _arm(x_near: float, x_far: float) -> tuple:
    return (x_near, x_far, 0.16, 0.30, "x")  # U runs from x_near (torso side) to x_far


def _leg(x0: float, x1: float, y_near: float, y_far: float) -> tuple:
    return (x0, x1, y_near, y_far, "y")


# part: (x from, x to, y from, y to, the axis U runs along); chart x is G, chart y is B (0 = top).
# Along the run axis U goes from the first bound to the second, V along the other from its first.
BODY_CHART = {
    1: (0.36, 0.64, 0.52, 0.16, "y"),  # torso: U from the hips (bottom) up
    2: (0.40, 0.60, 0.16, 0.00, "y"),  # head: U from the neck up
    3: _arm(0.36, 0.24), 4: _arm(0.64, 0.76),  # upper arms: right on the chart's left
    5: _arm(0.24, 0.12), 6: _arm(0.76, 0.88),  # lower arms
    7: _arm(0.12, 0.00), 8: _arm(0.88, 1.00),  # hands
    9: _leg(0.36, 0.50, 0.52, 0.70), 10: _leg(0.50, 0.64, 0.52, 0.70),  # upper legs
    11: _leg(0.36, 0.50, 0.70, 0.88), 12: _leg(0.50, 0.64, 0.70, 0.88),  # lower legs
    13: _leg(0.36, 0.50, 0.88, 1.00), 14: _leg(0.50, 0.64, 0.88, 1.00),  # feet
}


def _inset(a: float, b: float) -> tuple[float, float]:
    """The span a -> b moved MARGIN inwards at both ends (keeps its direction)."""
    step = MARGIN if b > a else -MARGIN
    return a + step, b - step


def _spans(part: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """((U from, U to), (V from, V to)) in chart units, inset, for one part."""
    x0, x1, y0, y1, run = BODY_CHART[part]
    along, across = ((x0, x1), (y0, y1)) if run == "x" else ((y0, y1), (x0, x1))
    return _inset(*along), _inset(*across)


def _tables() -> tuple[np.ndarray, ...]:
    """Per part id 0..NUM_PARTS: U span (2,), V span (2,), and whether U runs along x."""
    u_span, v_span, u_is_x = np.zeros((NUM_PARTS + 1, 2)), np.zeros((NUM_PARTS + 1, 2)), np.zeros(NUM_PARTS + 1, bool)
    for part in BODY_CHART:
        (u_span[part], v_span[part]), u_is_x[part] = _spans(part), BODY_CHART[part][4] == "x"
    return u_span, v_span, u_is_x


U_SPAN, V_SPAN, U_IS_X = _tables()
# Rectangles as (x low, x high, y low, y high) per part 1..NUM_PARTS, for the nearest-rectangle decode.
BOXES = np.array([[min(b[0], b[1]), max(b[0], b[1]), min(b[2], b[3]), max(b[2], b[3])] for _, b in
                  sorted(BODY_CHART.items())])


def render_body_chart(parts: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """uint8 (F, H, W, 3) of part ids `parts` (F, H, W; 0 off the body) and chart coordinates `uv`
    (F, H, W, 2) in 0..1, drawn as the module doc says."""
    parts = np.asarray(parts)
    if parts.size and (parts.min() < 0 or parts.max() > NUM_PARTS):
        raise ValueError(f"part ids span {parts.min()}..{parts.max()}: expected 0 (off the body) to {NUM_PARTS}")
    ids = parts.astype(np.int64)
    uv = np.clip(np.asarray(uv, np.float64), 0.0, 1.0)
    u_span, v_span = U_SPAN[ids], V_SPAN[ids]
    along = u_span[..., 0] + uv[..., 0] * (u_span[..., 1] - u_span[..., 0])
    across = v_span[..., 0] + uv[..., 1] * (v_span[..., 1] - v_span[..., 0])
    x = np.where(U_IS_X[ids], along, across)
    y = np.where(U_IS_X[ids], across, along)
    rgb = np.stack([np.full(x.shape, ON_BODY), 255.0 * x, 255.0 * y], -1)
    rgb = np.where((ids > 0)[..., None], rgb, 0.0)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def decode_body_chart(video: np.ndarray, median: int = 1) -> dict[str, np.ndarray]:
    """`parts` (F, H, W) uint8 and `uv` (F, H, W, 2) float32 of a rendering (float or uint8 in 0..255);
    `median` > 1 filters each channel over median x median pixels first (a noisy rendering, e.g.
    one that went through a VAE, decodes more accurately, at a small cost on part borders)."""
    video = np.asarray(video, np.float32)
    if median > 1:
        video = np.stack([ndimage.median_filter(video[..., c], size=(1, median, median)) for c in range(3)], -1)
    presence = video[..., 0]
    body = presence >= ON_BODY / 2
    # The mean chart place given the body: (G, B) over the chance of the body.
    place = np.clip(video[..., 1:] / np.maximum(presence, 1.0)[..., None], 0.0, 1.0)
    x, y = place[..., 0][..., None], place[..., 1][..., None]
    gap_x = np.maximum(np.maximum(BOXES[:, 0] - x, x - BOXES[:, 1]), 0.0)
    gap_y = np.maximum(np.maximum(BOXES[:, 2] - y, y - BOXES[:, 3]), 0.0)
    part = (gap_x**2 + gap_y**2).argmin(-1) + 1
    u_span, v_span, u_is_x = U_SPAN[part], V_SPAN[part], U_IS_X[part]
    along = np.where(u_is_x, x[..., 0], y[..., 0])
    across = np.where(u_is_x, y[..., 0], x[..., 0])
    u = (along - u_span[..., 0]) / (u_span[..., 1] - u_span[..., 0])
    v = (across - v_span[..., 0]) / (v_span[..., 1] - v_span[..., 0])
    uv = np.clip(np.stack([u, v], -1), 0.0, 1.0)
    parts = np.where(body, part, 0).astype(np.uint8)
    return {"parts": parts, "uv": np.where(body[..., None], uv, 0.0).astype(np.float32)}
