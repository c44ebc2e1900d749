"""Exact ray intersections with the primitives UniSynth is built from, and their surface normals.

Rays are `origin + t * direction` with directions scaled so camera z = 1, so `t` is the z-depth.
Every intersector returns the entry distance of each (ray, primitive) pair, `inf` on a miss, and
only counts hits in front of the ray origin (t > EPS): the camera never sits inside a solid.
A sphere is a capsule whose two end points coincide.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def _entry_root(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The smaller root of a t^2 + 2 b t + c = 0 where it is real and positive, else inf."""
    disc = b * b - a * c
    root = (-b - np.sqrt(np.maximum(disc, 0.0))) / np.maximum(a, EPS * EPS)
    return np.where((disc >= 0) & (root > EPS), root, np.inf)


def spheres(origin: np.ndarray, dirs: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Entry distances (N, K) of rays (N, 3) from `origin` (3,) into spheres (K, 3), (K,)."""
    oc = origin - centres  # (K, 3)
    a = np.einsum("nd,nd->n", dirs, dirs)[:, None]
    b = dirs @ oc.T
    c = np.einsum("kd,kd->k", oc, oc) - radii**2
    return _entry_root(a, b, c[None, :])


def sphere_overlap(origin: np.ndarray, dirs: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each ray (N, 3) passes through each sphere (K, 3), (K,) ahead of the origin (N, K);
    unlike `spheres`, also true when the origin is inside. Used to cull rays, so no square root:
    the far root is positive when the ray points toward the centre (b < 0) or starts inside (c < 0)."""
    oc = origin - centres
    a = np.einsum("nd,nd->n", dirs, dirs)[:, None]
    b = dirs @ oc.T
    c = (np.einsum("kd,kd->k", oc, oc) - radii**2)[None, :]
    return (b * b >= a * c) & ((b < 0) | (c < 0))


def capsules(origin: np.ndarray, dirs: np.ndarray, a: np.ndarray, b: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Entry distances (N, K) into capsules with axis a -> b (K, 3) and radius (K,).

    A capsule is the union of a finite cylinder and two end spheres, so its first hit is the
    nearest of the cylinder's side (kept only between the end planes) and the two spheres.
    """
    axis = b - a
    length2 = np.einsum("kd,kd->k", axis, axis)
    oa = origin - a  # (K, 3)
    dd = np.einsum("nd,nd->n", dirs, dirs)[:, None]
    d_axis = dirs @ axis.T  # (N, K)
    oa_axis = np.einsum("kd,kd->k", oa, axis)
    od = dirs @ oa.T
    oo = np.einsum("kd,kd->k", oa, oa)
    inv_len2 = np.where(length2 > EPS, 1.0 / np.maximum(length2, EPS), 0.0)
    side = _entry_root(
        dd - d_axis**2 * inv_len2,
        od - d_axis * (oa_axis * inv_len2),
        (oo - oa_axis**2 * inv_len2 - radii**2)[None, :],
    )
    finite = np.isfinite(side)
    along = (oa_axis + np.where(finite, side, 0.0) * d_axis) * inv_len2
    side = np.where(finite & (length2 > EPS) & (along >= 0) & (along <= 1), side, np.inf)
    return np.minimum(side, np.minimum(spheres(origin, dirs, a, radii), spheres(origin, dirs, b, radii)))


def boxes(
    origin: np.ndarray, dirs: np.ndarray, rotations: np.ndarray, centres: np.ndarray, halves: np.ndarray
) -> np.ndarray:
    """Entry distances (N, K) into oriented boxes: local-to-world rotations (K, 3, 3), centres and
    half extents (K, 3). Slab test in each box's own frame."""
    local_origin = np.einsum("kdj,kd->kj", rotations, origin - centres)  # (K, 3)
    local_dirs = np.einsum("kdj,nd->nkj", rotations, dirs)  # (N, K, 3)
    safe = np.where(np.abs(local_dirs) > EPS, local_dirs, EPS)
    t1 = (-halves - local_origin) / safe
    t2 = (halves - local_origin) / safe
    t_near = np.minimum(t1, t2).max(-1)
    t_far = np.maximum(t1, t2).min(-1)
    return np.where((t_far >= t_near) & (t_near > EPS), t_near, np.inf)


def ground(origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Distances (N,) to the plane z = 0, seen from above."""
    dz = dirs[:, 2]
    t = -origin[2] / np.where(dz < -EPS, dz, -EPS)
    return np.where((dz < -EPS) & (t > EPS), t, np.inf)


def backdrop(origin: np.ndarray, dirs: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Distances (N,) to the inside of the vertical cylinder around `centre` (xy) that encloses the
    world: the far root, since the camera stands inside it."""
    o = origin[:2] - centre
    d = dirs[:, :2]
    a = np.einsum("nd,nd->n", d, d)
    b = d @ o
    c = o @ o - radius**2
    return (-b + np.sqrt(np.maximum(b * b - a * c, 0.0))) / np.maximum(a, EPS)


def capsule_normals(points: np.ndarray, a: np.ndarray, b: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Unit normals (N, 3) at surface points of the capsules a -> b (N, 3) they lie on."""
    axis = b - a
    length2 = np.maximum(np.einsum("nd,nd->n", axis, axis), EPS)
    along = np.clip(np.einsum("nd,nd->n", points - a, axis) / length2, 0.0, 1.0)
    offset = points - (a + along[:, None] * axis)
    return offset / np.maximum(radii[:, None], EPS)


def box_normals(local_points: np.ndarray, rotations: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """World unit normals (N, 3) at box-frame points (N, 3): the face the point is closest to."""
    ratio = local_points / halves
    face = np.abs(ratio).argmax(-1)
    local = np.zeros_like(local_points)
    rows = np.arange(len(local_points))
    local[rows, face] = np.sign(ratio[rows, face])
    return np.einsum("nij,nj->ni", rotations, local)
