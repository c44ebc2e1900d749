"""Choose how far the camera stands so the content covers a chosen share of the frame.

A layout heuristic cannot know how much of a figure's bounding box its limbs fill or how much the
entities hide each other, so the distance is fitted by rendering the instance mask at a small
probe resolution and rescaling: covered area goes roughly as 1 / distance^2.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax.data.unisynth import raster
from unityvideo_jax.data.unisynth.camera import CameraPath
from unityvideo_jax.data.unisynth.world import World

PROBE = 32  # probe resolution (pixels a side)
PROBE_TIMES = (-0.4, 0.0, 0.4)  # seconds; covers the middle of a clip


def coverage(world: World, path: CameraPath, radius: float) -> float:
    """Share of probe pixels that see an instance, averaged over the probe times."""
    shares = []
    for time in PROBE_TIMES:
        camera = path.at(time, PROBE, PROBE)
        _, _, prim = raster.cast_pixels(world, world.posed(time), radius, camera)
        shares.append(float((world.prim_instance[prim] > 0).mean()))
    return float(np.mean(shares))


def fit_distance(
    world: World, path: CameraPath, radius: float, share: float, closest: float, steps: int = 3
) -> CameraPath:
    """`path` moved along its view ray until the content covers about `share` of the frame, but
    never nearer than `closest` metres to its target."""
    for _ in range(steps):
        covered = coverage(world, path, radius)
        scale = np.sqrt(covered / share) if covered > 0 else 0.6
        distance = float(np.clip(path.distance * scale, closest, 3.0 * path.distance))
        if abs(distance - path.distance) < 0.02 * path.distance:
            break
        path = dataclasses.replace(path, distance=distance)
    return path
