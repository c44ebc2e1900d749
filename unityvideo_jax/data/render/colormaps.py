"""Invertible colour codes for the modality visualisations.

A `Curve` is a polyline through RGB space with a parameter at each vertex. Rendering interpolates
along it; decoding projects a (possibly noisy) colour onto the nearest point of the polyline and
reads the parameter there. The depth map and the optical-flow wheel are curves; instance ids use a
palette of well separated colours, decoded by the nearest palette entry, with blends read as chances
(segmentation_image.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Curve:
    points: np.ndarray  # (S + 1, 3) vertices, 0..255
    knots: np.ndarray  # (S + 1,) increasing parameter at each vertex

    def colour(self, param: np.ndarray) -> np.ndarray:
        """RGB (..., 3) in 0..255 at parameters (...), clamped to the curve's ends."""
        return np.stack([np.interp(param, self.knots, self.points[:, c]) for c in range(3)], -1)

    def param(self, colours: np.ndarray, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
        """Parameter (...) of the nearest curve point to each colour (..., 3), and the distance."""
        flat = colours.reshape(-1, 3).astype(np.float32)
        parts = [self._project(flat[i : i + chunk]) for i in range(0, len(flat), chunk)] or [self._project(flat)]
        shape = colours.shape[:-1]
        params, gaps = zip(*parts)
        return np.concatenate(params).reshape(shape), np.concatenate(gaps).reshape(shape)

    def _project(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start = self.points[:-1].astype(np.float32)
        step = np.diff(self.points, axis=0).astype(np.float32)  # (S, 3)
        offset = flat[:, None] - start  # (N, S, 3)
        along = np.clip((offset * step).sum(-1) / (step * step).sum(-1), 0.0, 1.0)  # (N, S)
        gap = np.linalg.norm(offset - along[..., None] * step, axis=-1)
        seg = gap.argmin(1)
        rows = np.arange(len(flat))
        return self.knots[seg] + along[rows, seg] * np.diff(self.knots)[seg], gap[rows, seg]


def _arc_length_curve(points: list[tuple[int, int, int]]) -> Curve:
    """A curve whose parameter runs 0..1 in proportion to distance along it (uniform precision)."""
    pts = np.array(points, np.float64)
    length = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=-1))])
    return Curve(pts, length / length[-1])


# Depth: parameter 0 = far (dark blue, cool) ... 1 = near (dark red, warm), a jet-like ramp.
DEPTH_CURVE = _arc_length_curve([(0, 0, 128), (0, 0, 255), (0, 255, 255), (255, 255, 0), (255, 0, 0), (128, 0, 0)])

# The Middlebury flow wheel (Baker et al. 2011): red, yellow, green, cyan, blue, magenta, with as
# many steps between them as its 55-entry table (15, 6, 4, 11, 13, 6), closed into a loop.
# The parameter runs over [0, 55): angle a = atan2(-v, -u) / pi maps to (a + 1) / 2 * 55.
WHEEL_STEPS = 55.0
FLOW_WHEEL = Curve(
    np.array([(255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255), (255, 0, 0)], float),
    np.array([0.0, 15.0, 21.0, 25.0, 36.0, 49.0, 55.0]),
)


def nearest_entry(colours: np.ndarray, palette: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Index (...) of the palette entry (K, 3) nearest each colour (..., 3)."""
    flat = colours.reshape(-1, 3).astype(np.float32)
    pal = palette.astype(np.float32)
    bias = 0.5 * (pal * pal).sum(-1)  # |c - p|^2 / 2 = |c|^2 / 2 - c.p + |p|^2 / 2; |c|^2 is common
    index = np.empty(len(flat), np.int64)
    for i in range(0, len(flat), chunk):
        index[i : i + chunk] = (bias - flat[i : i + chunk] @ pal.T).argmin(1)
    return index.reshape(colours.shape[:-1])
