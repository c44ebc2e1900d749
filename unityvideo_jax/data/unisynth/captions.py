"""Captions written from a scene: who moves where (as the camera sees it), past what, and how the
camera moves. "Two people walk left past a red ball on grass, the camera pans right."
"""

from __future__ import annotations

import numpy as np

from unityvideo_jax.data.unisynth.camera import look_rotation, motion_phrase
from unityvideo_jax.data.unisynth.scene import Scene

COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
PLURALS = {"human": ("person", "people"), "quadruped": ("dog", "dogs")}
VERBS = {"human": ("walks", "walk"), "quadruped": ("trots", "trot")}
OBJECT_VERBS = {"ball": "rolls", "box": "slides", "pillar": "slides"}


def _direction(velocity: np.ndarray, right: np.ndarray, forward: np.ndarray) -> str:
    """Image direction of a ground velocity: across the view wins unless mostly along it."""
    across, along = velocity @ right, velocity @ forward
    if abs(across) >= 0.8 * abs(along):
        return "right" if across > 0 else "left"
    return "away from the camera" if along > 0 else "toward the camera"


def _counted(words: list[str]) -> list[str]:
    """Identical phrases merged with a count: "a teal box", "a teal box" -> "two teal boxes"."""
    merged = []
    for phrase in dict.fromkeys(words):
        n = words.count(phrase)
        noun = phrase.split(" ", 1)[1]
        merged.append(phrase if n == 1 else f"{COUNT_WORDS.get(n, str(n))} {noun}{'es' if noun.endswith('x') else 's'}")
    return merged


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def caption(scene: Scene) -> str:
    rotation = look_rotation(scene.camera.yaw, 0.0)
    right, forward = rotation[:, 0], rotation[:, 2]
    walks = [(f, _direction(f.ground_point(1.0) - f.ground_point(0.0), right, forward)) for f in scene.figures]
    moving = [o for o in scene.objects if np.hypot(*o.velocity) > 0]
    still = _counted([o.words for o in scene.objects if np.hypot(*o.velocity) == 0])
    rolls = [
        f"{o.words} {OBJECT_VERBS[o.shape]} {_direction(np.array([*o.velocity, 0.0]), right, forward)}" for o in moving
    ]

    kinds = {f.kind for f, _ in walks}
    directions = {d for _, d in walks}
    if len(walks) > 1 and len(kinds) == 1 and len(directions) == 1:
        kind = kinds.pop()
        count = COUNT_WORDS.get(len(walks), str(len(walks)))
        subjects = [f"{count} {PLURALS[kind][1]} {VERBS[kind][1]} {directions.pop()}"]
    else:
        subjects = [f"{f.words} {VERBS[f.kind][0]} {d}" for f, d in walks]

    if subjects:
        text = _join(subjects) + (f" past {_join(still)}" if still else "") + f" {scene.ground_words}"
        if rolls:
            text += f" while {_join(rolls)}"
    elif still:
        one = len(still) == 1 and still[0].startswith(("a ", "an "))
        text = f"{_join(still)} {'stands' if one else 'stand'} {scene.ground_words}"
        text += f" while {_join(rolls)}" if rolls else ""
    else:
        text = _join(rolls) + f" {scene.ground_words}"
    text += f", {motion_phrase(scene.camera)}."
    return text[0].upper() + text[1:]
