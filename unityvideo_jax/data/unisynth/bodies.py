"""Rigid bodies and the primitives attached to them.

Everything that moves in UniSynth is a set of rigid bodies. A body's pose at a time is a rotation
(body-to-world, columns are the body's axes) and a position; its primitives (capsules, spheres as
zero-length capsules, boxes) are fixed in the body's frame. A surface point therefore has one
body-frame coordinate for the whole clip, and its true motion between two times is the change of
its body's pose: that is what the ground-truth flow reprojects.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The primitives of one instance, in the frames of its bodies (indices local to the instance).

    Box b is centred on its body's origin and aligned with its axes. `part` is the DensePose-like
    body part of each capsule (0 for rigid objects).
    """

    capsule_body: np.ndarray  # (K,) int
    capsule_a: np.ndarray  # (K, 3)
    capsule_b: np.ndarray  # (K, 3)
    capsule_radius: np.ndarray  # (K,)
    capsule_part: np.ndarray  # (K,) int
    capsule_material: np.ndarray  # (K,) int
    box_body: np.ndarray  # (M,) int
    box_half: np.ndarray  # (M, 3)
    box_material: np.ndarray  # (M,) int

    @classmethod
    def build(cls, capsules: list[tuple] = (), boxes: list[tuple] = ()) -> "Geometry":
        """From rows (body, a, b, radius, part, material) and (body, half extents, material)."""
        caps = list(zip(*capsules)) if capsules else [[]] * 6
        bx = list(zip(*boxes)) if boxes else [[]] * 3
        return cls(
            np.array(caps[0], np.int64),
            np.array(caps[1], np.float64).reshape(-1, 3),
            np.array(caps[2], np.float64).reshape(-1, 3),
            np.array(caps[3], np.float64),
            np.array(caps[4], np.int64),
            np.array(caps[5], np.int64),
            np.array(bx[0], np.int64),
            np.array(bx[1], np.float64).reshape(-1, 3),
            np.array(bx[2], np.int64),
        )


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation about world z; its columns are forward, left and up of a heading `yaw`."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by `angle` radians about the unit `axis` (Rodrigues)."""
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def limb_frame(direction: np.ndarray, side_axis: np.ndarray) -> np.ndarray:
    """Rotation whose x axis is the unit limb `direction` and whose y axis is `side_axis` made
    orthogonal to it. Limbs swing about the side axis, so the frame turns with the limb."""
    y = side_axis - (side_axis @ direction) * direction
    y = y / np.linalg.norm(y)
    return np.stack([direction, y, np.cross(direction, y)], axis=1)


def swing(frame: np.ndarray, angle: float, spread: float = 0.0) -> np.ndarray:
    """Unit direction pointing down the body's -z axis, swung forward (+x) by `angle` and out
    along +y by `spread` radians; `frame` columns are forward, left, up."""
    forward, left, up = frame[:, 0], frame[:, 1], frame[:, 2]
    in_plane = -up * np.cos(angle) + forward * np.sin(angle)
    return np.cos(spread) * in_plane + np.sin(spread) * left


def transform(rotation: np.ndarray, position: np.ndarray, local: np.ndarray) -> np.ndarray:
    """World points (..., 3) of body-frame points (..., 3) of a body posed (rotation, position)."""
    return local @ rotation.T + position
