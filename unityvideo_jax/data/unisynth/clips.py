"""UniSynth: procedural clips with exact ground truth for every UnityVideo modality.

`render_clip(family, seed)` samples a scene (scene.py), renders each frame (raster.py) and
captions it (captions.py). Frame i is at time (i - (F - 1) / 2) / 12 s, so a clip's middle frame is
the same whatever F is, and the clip does not depend on its resolution except through sampling.

Conventions: pixel (row i, column j) is image point (x = j, y = i); depth is camera z in metres;
flow[t] moves a frame-t pixel to where its surface point is in frame t + 1, in pixels (x, y). The
last frame's flow is the true flow to the frame after the clip, which the procedural world can
render although the clip does not hold it. Figure p is instance p + 1; keypoints follow COCO for
people and AP-10K for animals (`figure_kinds` says which).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax.data.unisynth import raster
from unityvideo_jax.data.unisynth.captions import caption
from unityvideo_jax.data.unisynth.scene import FAMILY_SPECS, FRAME_TIME, Scene, sample_scene
from unityvideo_jax.data.unisynth.world import World

TRAIN_FAMILIES = ("single_person", "two_person", "objects", "mixed")
ZERO_SHOT_FAMILIES = ("three_person", "quadruped")
FAMILIES = TRAIN_FAMILIES + ZERO_SHOT_FAMILIES
NUM_PARTS = 14


@dataclasses.dataclass(frozen=True)
class Clip:
    rgb: np.ndarray  # (F, H, W, 3) uint8
    depth: np.ndarray  # (F, H, W) float32, metres
    flow: np.ndarray  # (F, H, W, 2) float32, pixels (x, y) to the next frame
    instances: np.ndarray  # (F, H, W) int32, 0 = ground and backdrop
    keypoints: np.ndarray  # (F, P, 17, 2) float32, image (x, y)
    visibility: np.ndarray  # (F, P, 17) bool
    parts: np.ndarray  # (F, H, W) uint8, 0 = no body part, 1..NUM_PARTS
    uv: np.ndarray  # (F, H, W, 2) float32 in [0, 1], 0 off the body
    caption: str
    family: str
    figure_kinds: tuple[str, ...]  # (P,) "human" or "quadruped"


def frame_times(frames: int) -> np.ndarray:
    return (np.arange(frames + 1) - (frames - 1) / 2.0) * FRAME_TIME


def _check(family: str, seed: int, frames: int, height: int, width: int) -> None:
    if family not in FAMILY_SPECS:
        raise ValueError(f"unknown family {family!r}: expected one of {', '.join(FAMILIES)}")
    for name, value, least in (("seed", seed, 0), ("frames", frames, 1), ("height", height, 1), ("width", width, 1)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name}={value!r}: expected an integer >= {least}")


def render_scene(scene: Scene, frames: int, height: int, width: int) -> Clip:
    """Every ground truth of `frames` frames of a sampled scene."""
    world = World.of(scene.figures, scene.objects, scene.ground)
    times = frame_times(frames)
    posed = [world.posed(t) for t in times]
    cameras = [scene.camera.at(t, height, width) for t in times]
    radius = scene.backdrop.radius
    rendered = [
        raster.render_frame(world, scene.backdrop, scene.light, posed[i], posed[i + 1], cameras[i], cameras[i + 1])
        for i in range(frames)
    ]
    keypoints = [raster.keypoints_2d(world, posed[i], radius, cameras[i]) for i in range(frames)]
    stack = lambda name: np.stack([getattr(f, name) for f in rendered])  # noqa: E731
    return Clip(
        rgb=stack("rgb"),
        depth=stack("depth"),
        flow=stack("flow"),
        instances=stack("instances"),
        keypoints=np.stack([k for k, _ in keypoints]),
        visibility=np.stack([v for _, v in keypoints]),
        parts=stack("parts"),
        uv=stack("uv"),
        caption=caption(scene),
        family=scene.family,
        figure_kinds=tuple(f.kind for f in scene.figures),
    )


def render_clip(family: str, seed: int, frames: int = 9, height: int = 64, width: int = 64) -> Clip:
    """A clip of scene family `family` (one of FAMILIES) drawn from `seed`."""
    _check(family, seed, frames, height, width)
    return render_scene(sample_scene(family, seed), frames, height, width)
