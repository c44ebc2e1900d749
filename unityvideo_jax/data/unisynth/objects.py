"""Rigid objects: balls that roll (and may bounce), boxes and pillars that slide and spin.

Each object is one rigid body. A rolling ball turns about the horizontal axis across its velocity
at |v| / r radians per second, so its texture moves exactly as a rolling ball's surface would.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax.data.unisynth.bodies import Geometry, axis_angle, yaw_rotation
from unityvideo_jax.data.unisynth.materials import Material

SHAPES = ("ball", "box", "pillar")


@dataclasses.dataclass(frozen=True)
class RigidObject:
    shape: str  # one of SHAPES
    half: tuple[float, float, float]  # half extents (m); a ball's radius is half[0]
    root: tuple[float, float]  # ground position at time 0
    velocity: tuple[float, float]  # m/s on the ground
    yaw: float  # heading at time 0 (boxes)
    spin: float  # yaw rate (rad/s, boxes)
    bounce: float  # bounce height (m, balls)
    material: Material
    words: str  # "a red ball"

    num_bodies = 1

    @property
    def radius(self) -> float:
        """Radius of the object's footprint on the ground."""
        return float(np.hypot(self.half[0], self.half[1]))

    @property
    def top(self) -> float:
        return 2.0 * self.half[0] + self.bounce if self.shape == "ball" else 2.0 * self.half[2]

    def geometry(self) -> Geometry:
        if self.shape == "ball":
            return Geometry.build(capsules=[(0, (0, 0, 0), (0, 0, 0), self.half[0], 0, 0)])
        return Geometry.build(boxes=[(0, self.half, 0)])

    def ground_point(self, time: float) -> np.ndarray:
        return np.array([self.root[0] + self.velocity[0] * time, self.root[1] + self.velocity[1] * time, 0.0])

    def pose(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Rotation (1, 3, 3) and position (1, 3) at `time` seconds."""
        centre = self.ground_point(time)
        if self.shape != "ball":
            centre[2] = self.half[2]
            return yaw_rotation(self.yaw + self.spin * time)[None], centre[None]
        r = self.half[0]
        speed = float(np.hypot(*self.velocity))
        rotation = yaw_rotation(self.yaw)
        if speed > 0:
            axis = np.array([-self.velocity[1], self.velocity[0], 0.0]) / speed  # up x velocity
            rotation = axis_angle(axis, speed * time / r) @ rotation
        centre[2] = r + self.bounce * abs(np.sin(2.5 * time + self.spin))
        return rotation[None], centre[None]
