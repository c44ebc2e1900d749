"""Scene families and sampling a scene from a seed.

A scene is laid out on a stage seen from its front: entities (people, animals, objects) get
non-overlapping paths, then a camera with a random field of view, pitch and motion is placed so
the content fills a random share of the frame. Framing from the content, rather than placing a
camera anywhere, is what keeps foreground near a third of the pixels: with the ground filling the
frame, a constant depth map would already score well.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax.data.unisynth.camera import CameraPath
from unityvideo_jax.data.unisynth.figures import Figure
from unityvideo_jax.data.unisynth.framing import fit_distance
from unityvideo_jax.data.unisynth.materials import (
    CHECKER,
    COLOUR_NAMES,
    COLOURS,
    MOTTLED,
    SKIN_TONES,
    Backdrop,
    Material,
    random_material,
)
from unityvideo_jax.data.unisynth.objects import RigidObject
from unityvideo_jax.data.unisynth.world import World

FRAME_TIME = 1.0 / 12.0  # seconds between frames; time 0 is the clip's middle frame
PLANNING_TIME = 1.0  # paths are kept apart, and off the camera, over [-T, T] seconds


@dataclasses.dataclass(frozen=True)
class Family:
    people: tuple[int, int]  # inclusive count range
    animals: tuple[int, int]
    objects: tuple[int, int]
    share: tuple[float, float] = (0.4, 0.8)  # range of the frame share the camera frames for;
    # thin figures seldom reach it (the camera may not pass them), compact objects do


FAMILY_SPECS: dict[str, Family] = {
    "single_person": Family((1, 1), (0, 0), (0, 2)),
    "two_person": Family((2, 2), (0, 0), (0, 1)),
    "objects": Family((0, 0), (0, 0), (3, 6), (0.25, 0.55)),
    "mixed": Family((1, 2), (0, 0), (2, 4)),
    "three_person": Family((3, 3), (0, 0), (0, 1)),
    "quadruped": Family((0, 0), (1, 1), (0, 2), (0.5, 0.9)),
}

GROUNDS = {  # caption words -> material
    "on grass": Material((0.25, 0.5, 0.18), MOTTLED, 1.2, 0.5, (0.35, 0.42, 0.12)),
    "on a tiled plaza": Material((0.72, 0.7, 0.66), CHECKER, 0.7, 0.45, (0.45, 0.44, 0.42)),
    "on sand": Material((0.86, 0.76, 0.55), MOTTLED, 0.8, 0.35, (0.7, 0.58, 0.38)),
    "on a road": Material((0.33, 0.33, 0.35), MOTTLED, 1.5, 0.4, (0.22, 0.22, 0.24)),
}
SKIES = (  # (horizon, zenith): clear, overcast, dusk
    ((0.65, 0.8, 0.95), (0.3, 0.5, 0.9)),
    ((0.8, 0.8, 0.82), (0.6, 0.62, 0.68)),
    ((0.98, 0.72, 0.45), (0.45, 0.4, 0.65)),
)
SKYLINES = ((0.12, 0.3, 0.12), (0.42, 0.42, 0.46), (0.55, 0.45, 0.38))
CAMERA_MOTIONS = ("static", "pan", "truck", "dolly", "orbit", "follow")
CAMERA_MOTION_WEIGHTS = (0.25, 0.2, 0.2, 0.1, 0.15, 0.1)


@dataclasses.dataclass(frozen=True)
class Scene:
    family: str
    figures: tuple[Figure, ...]
    objects: tuple[RigidObject, ...]
    camera: CameraPath
    ground: Material
    ground_words: str
    backdrop: Backdrop
    light: np.ndarray  # (3,) unit vector toward the sun


def _a(word: str) -> str:
    """The word with its indefinite article."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def _person(rng: np.random.Generator) -> tuple[tuple[Material, ...], str]:
    shirt, trousers = rng.choice(COLOUR_NAMES, 2, replace=False)
    shoes = COLOURS[str(rng.choice(["black", "white", "brown"]))]
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))]
    slots = (random_material(rng, str(shirt)), random_material(rng, str(trousers)), Material(skin), Material(shoes))
    return slots, f"a person in {_a(shirt)} shirt"


def _animal(rng: np.random.Generator) -> tuple[tuple[Material, ...], str]:
    coat = str(rng.choice(["brown", "black", "white", "gray", "orange"]))
    slots = (random_material(rng, coat), Material(tuple(0.7 * np.array(COLOURS[coat]))), Material(COLOURS["black"]))
    return slots, f"{_a(coat)} dog"


def _figure(rng: np.random.Generator, kind: str, root: np.ndarray, heading: float) -> Figure:
    slots, words = (_person if kind == "human" else _animal)(rng)
    size = rng.uniform(1.55, 1.95) if kind == "human" else rng.uniform(0.45, 0.75)
    speed = rng.uniform(0.5, 1.3) if kind == "human" else rng.uniform(0.6, 1.5)
    return Figure(kind, tuple(root), heading, float(speed), float(size), float(rng.uniform(0, 2 * np.pi)), slots, words)


def _object(rng: np.random.Generator, root: np.ndarray) -> RigidObject:
    shape = str(rng.choice(["ball", "box", "box", "pillar"]))
    colour = str(rng.choice(COLOUR_NAMES))
    if shape == "ball":
        r = rng.uniform(0.2, 0.55)
        half = (r, r, r)
    elif shape == "box":
        half = tuple(rng.uniform(0.2, 0.6, 3))
    else:
        half = (*rng.uniform(0.15, 0.3, 2), rng.uniform(0.8, 1.3))
    moving = shape == "ball" and rng.random() < 0.6 or shape == "box" and rng.random() < 0.3
    direction = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.3, 1.0) if moving else 0.0
    velocity = (speed * np.cos(direction), speed * np.sin(direction))
    spin = rng.uniform(-0.8, 0.8) if shape == "box" and moving else 0.0
    bounce = rng.uniform(0.1, 0.4) if shape == "ball" and rng.random() < 0.3 else 0.0
    return RigidObject(shape, tuple(float(h) for h in half), tuple(root), velocity, float(rng.uniform(0, 2 * np.pi)),
                       float(spin), float(bounce), random_material(rng, colour), f"{_a(colour)} {shape}")  # fmt: skip


def _path(start: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Points along a ground path over the planning window."""
    return start + np.linspace(-PLANNING_TIME, PLANNING_TIME, 9)[:, None] * velocity


def _place(
    rng: np.random.Generator, velocities: list[np.ndarray], radii: list[float], spread: float
) -> list[np.ndarray]:
    """Ground positions at time 0 whose paths stay `radius` apart, found by rejection sampling.

    The first entity stands at the front (near the stage origin); the others go beside or behind
    it, so nothing comes between it and a camera that closes in on it."""
    placed: list[np.ndarray] = []
    for i, (v, r) in enumerate(zip(velocities, radii)):
        for attempt in range(200):
            grow = 1.0 + attempt / 40.0  # widen the stage when it is crowded
            x = rng.uniform(-1, 1) * spread * grow
            y = rng.uniform(-0.1, 0.8) * spread * grow if i else 0.0
            candidate = np.array([x if i else 0.3 * x, y])
            path = _path(candidate, v)
            if all(
                np.min(np.linalg.norm(path[:, None] - _path(p, velocities[j])[None], axis=-1)) > r + radii[j] + 0.1
                for j, p in enumerate(placed)
            ):
                break
        placed.append(candidate)
    return placed


def _stage_to_world(yaw: float) -> np.ndarray:
    """2x2 map from stage (x right, y away from the camera) to world ground coordinates."""
    return np.array([[np.sin(yaw), np.cos(yaw)], [-np.cos(yaw), np.sin(yaw)]])


def _headings(rng: np.random.Generator, count: int) -> np.ndarray:
    """Stage headings: mostly across the view, some toward or away, groups often walk together."""
    across, along, diagonal = [0.0, np.pi, 0.0, np.pi], [np.pi / 2, -np.pi / 2], [np.pi / 4, 3 * np.pi / 4]
    choices = np.array(across + along + diagonal + [-d for d in diagonal])
    if count > 1 and rng.random() < 0.5:
        return np.full(count, rng.choice(choices[:4])) + rng.normal(0, 0.1, count)
    return rng.choice(choices, count) + rng.normal(0, 0.1, count)


def sample_scene(family: str, seed: int) -> Scene:
    """The scene of `family` drawn from `seed`; independent of the resolution and frame count."""
    if family not in FAMILY_SPECS:
        raise ValueError(f"unknown scene family {family!r}: expected one of {', '.join(FAMILY_SPECS)}")
    rng = np.random.default_rng([int(seed), list(FAMILY_SPECS).index(family)])
    spec = FAMILY_SPECS[family]
    kinds = ["human"] * int(rng.integers(spec.people[0], spec.people[1] + 1))
    kinds += ["quadruped"] * int(rng.integers(spec.animals[0], spec.animals[1] + 1))
    num_objects = int(rng.integers(spec.objects[0], spec.objects[1] + 1))
    yaw = float(rng.uniform(0, 2 * np.pi))
    to_world = _stage_to_world(yaw)

    headings = _headings(rng, len(kinds))
    drafts = [_figure(rng, kind, np.zeros(2), 0.0) for kind in kinds]
    objects = [_object(rng, np.zeros(2)) for _ in range(num_objects)]
    stage_v = [f.speed * np.array([np.cos(h), np.sin(h)]) for f, h in zip(drafts, headings)]
    stage_v += [to_world.T @ np.array(o.velocity) for o in objects]
    radii = [0.22 * f.size if f.kind == "human" else 0.9 * f.size for f in drafts] + [o.radius for o in objects]
    spread = 0.5 + 0.3 * len(radii)
    stage_p = _place(rng, stage_v, radii, spread)

    figures = tuple(
        dataclasses.replace(f, root=tuple(to_world @ p), heading=float(yaw - np.pi / 2 + h))
        for f, p, h in zip(drafts, stage_p, headings)
    )
    objects = tuple(dataclasses.replace(o, root=tuple(to_world @ p)) for o, p in zip(objects, stage_p[len(drafts) :]))
    tops = [f.size * (1.0 if f.kind == "human" else 1.5) for f in figures] + [o.top for o in objects]
    view, closest, hero = _view(rng, yaw, stage_p, stage_v, radii, tops, to_world, len(figures))
    sky, zenith = SKIES[rng.integers(len(SKIES))]
    backdrop = Backdrop(sky, zenith, SKYLINES[rng.integers(len(SKYLINES))], float(rng.uniform(3, 10)),
                        int(rng.integers(3, 10)), tuple(rng.uniform(0, 2 * np.pi, 3)))  # fmt: skip
    ground_words = str(rng.choice(list(GROUNDS)))
    sun_azimuth, sun_elevation = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.2)
    light = np.array([np.cos(sun_azimuth), np.sin(sun_azimuth), np.tan(sun_elevation)]) * np.cos(sun_elevation)
    share = float(rng.uniform(*spec.share))
    view = fit_distance(World.of(figures, objects, GROUNDS[ground_words]), view, backdrop.radius, share, closest)
    camera = _motion(rng, view, closest, figures[hero] if figures else None)
    return Scene(family, figures, objects, camera, GROUNDS[ground_words], ground_words, backdrop, light)


def _view(rng, yaw, stage_p, stage_v, radii, tops, to_world, num_figures) -> tuple[CameraPath, float, int]:
    """A static camera aimed at the hero at time 0, the nearest it may come to its target, and
    the hero's index.

    The hero is the figure (or, without figures, the entity) that comes closest to the camera
    side of the stage, so nothing stands between them and the camera can close in."""
    fov = float(np.radians(rng.uniform(40, 70)))
    pitch = float(np.radians(rng.uniform(2, 32)))
    fronts = [float((_path(q, v)[:, 1] - rad).min()) for q, v, rad in zip(stage_p, stage_v, radii)]
    hero = int(np.argmin(fronts[:num_figures] if num_figures else fronts))
    closest = ((stage_p[hero][1] - min(fronts)) + 0.4) / np.cos(pitch)
    distance = max(closest, max(tops) / 2 / np.tan(fov / 2))
    aim = rng.uniform(0.45, 0.75) if num_figures else rng.uniform(0.35, 0.6)  # people: often upper-body shots
    target = np.array([*(to_world @ stage_p[hero]), aim * tops[hero]])
    return CameraPath("static", target, yaw, pitch, float(distance), fov, 0.0), float(closest), hero


def _motion(rng, path: CameraPath, closest: float, lead: Figure | None) -> CameraPath:
    """The static view set moving; "follow" keeps pace with the `lead` figure (trucks without one)."""
    motion = str(rng.choice(CAMERA_MOTIONS, p=np.array(CAMERA_MOTION_WEIGHTS) / sum(CAMERA_MOTION_WEIGHTS)))
    if motion == "follow" and lead is None:
        motion = "truck"
    rates = {"static": 0.0, "pan": rng.uniform(0.08, 0.25), "truck": rng.uniform(0.25, 0.7),
             "dolly": rng.uniform(0.2, 0.5), "orbit": rng.uniform(0.1, 0.3), "follow": 1.0}  # fmt: skip
    rate = float(rng.choice([-1.0, 1.0]) * rates[motion])
    if motion == "dolly":  # never push in through the content
        slack = (path.distance - closest) * np.cos(path.pitch) + 0.3
        rate = float(np.clip(rate, -0.5, slack / PLANNING_TIME))
    follow = None
    if motion == "follow":
        follow = lead.speed * np.array([np.cos(lead.heading), np.sin(lead.heading), 0.0])
    return dataclasses.replace(path, motion=motion, rate=rate, follow_velocity=follow)
