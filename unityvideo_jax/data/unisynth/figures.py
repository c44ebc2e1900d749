"""Articulated figures: a person or a four-legged animal walking in a straight line.

A figure's kind picks its rig (human.py, quadruped.py) from `RIGS`; the rig knows the figure's
geometry, how it poses at a time and which keypoints it has. Time 0 is the clip's middle frame,
so a figure stands at `root` in the middle of the clip.
"""

from __future__ import annotations

import dataclasses
import types

import numpy as np

from unityvideo_jax.data.unisynth import human, quadruped
from unityvideo_jax.data.unisynth.bodies import Geometry, yaw_rotation
from unityvideo_jax.data.unisynth.materials import Material

RIGS: dict[str, types.ModuleType] = {"human": human, "quadruped": quadruped}
STRIDE = {"human": 0.8, "quadruped": 1.1}  # gait cycle length per metre of size, at a natural pace


@dataclasses.dataclass(frozen=True)
class Figure:
    kind: str  # a key of RIGS
    root: tuple[float, float]  # ground position (m) at time 0
    heading: float  # walking direction, radians from +x toward +y
    speed: float  # m/s
    size: float  # height of a person, shoulder height of an animal (m)
    phase: float  # gait phase at time 0 (radians)
    materials: tuple[Material, ...]  # the rig's material slots
    words: str  # how a caption names it ("a person in a red shirt")

    @property
    def rig(self) -> types.ModuleType:
        return RIGS[self.kind]

    @property
    def num_bodies(self) -> int:
        return self.rig.NUM_BODIES

    def geometry(self) -> Geometry:
        return self.rig.geometry(self.size)

    def keypoint_tolerance(self) -> np.ndarray:
        return self.rig.keypoint_tolerance(self.size)

    def ground_point(self, time: float) -> np.ndarray:
        frame = yaw_rotation(self.heading)
        return np.array([*self.root, 0.0]) + self.speed * time * frame[:, 0]

    def pose(self, time: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Body rotations (B, 3, 3), positions (B, 3) and keypoints (17, 3) at `time` seconds."""
        cadence = self.speed / (STRIDE[self.kind] * self.size)  # gait cycles per second
        phase = self.phase + 2.0 * np.pi * cadence * time
        return self.rig.pose(self.ground_point(time), yaw_rotation(self.heading), self.size, phase, self.speed)
