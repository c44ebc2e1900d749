"""A trotting four-legged animal: 9 rigid bodies, AP-10K keypoints, parts mapped onto the human ones.

Sizes are fractions of `size` (about the shoulder height). The torso frame has its origin at the
hip line, axes forward, left, up; head, neck and tail are fixed to it. A trot moves diagonal leg
pairs together. DensePose has no animal chart here, so parts reuse the human ids: front legs as
arms (upper, lower, paw as hand), hind legs as legs, body and tail as torso, neck and head as head.
"""

from __future__ import annotations

import numpy as np

from unityvideo_jax.data.unisynth.bodies import Geometry, limb_frame, swing, transform

BODY, R_BODY = 1.0, 0.2
UPPER, LOWER, R_UPPER, R_LOWER, R_PAW = 0.42, 0.42, 0.075, 0.05, 0.06
HEAD_CENTRE, R_HEAD = (BODY + 0.3, 0.0, 0.52), 0.15
SNOUT_TIP = (BODY + 0.56, 0.0, 0.42)
HIP_Y, HIP_Z = 0.12, -0.08

# Legs: (front?, side) -> (upper body, lower body); side +1 is the animal's left.
LEGS = {(True, 1): (1, 2), (True, -1): (3, 4), (False, 1): (5, 6), (False, -1): (7, 8)}
NUM_BODIES = 9
# Human part ids: (upper, lower, end) for the right side; the left side is one more.
LEG_PARTS = {True: (3, 5, 7), False: (9, 11, 13)}


def _attach(front: bool, side: int, s: float) -> np.ndarray:
    return np.array([BODY * s if front else 0.0, side * HIP_Y * s, HIP_Z * s])


def geometry(size: float) -> Geometry:
    """Capsules of an animal of `size`. Materials: 0 coat, 1 legs and tail, 2 nose."""
    s = size
    caps = [
        (0, (0, 0, 0), (BODY * s, 0, 0), R_BODY * s, 1, 0),
        (0, (BODY * s, 0, 0.05 * s), ((BODY + 0.22) * s, 0, 0.42 * s), 0.11 * s, 2, 0),
        (0, np.multiply(HEAD_CENTRE, s), np.multiply(HEAD_CENTRE, s), R_HEAD * s, 2, 0),
        (0, ((BODY + 0.38) * s, 0, 0.48 * s), np.multiply(SNOUT_TIP, s), 0.07 * s, 2, 2),
        (0, (-0.15 * s, 0, 0.05 * s), (-0.5 * s, 0, 0.3 * s), 0.045 * s, 1, 1),
    ]
    for (front, side), (upper_body, lower_body) in LEGS.items():
        upper_part, lower_part, paw_part = (p + (1 if side == 1 else 0) for p in LEG_PARTS[front])
        caps += [
            (upper_body, (0, 0, 0), (UPPER * s, 0, 0), R_UPPER * s, upper_part, 0),
            (lower_body, (0, 0, 0), (LOWER * s, 0, 0), R_LOWER * s, lower_part, 1),
            (lower_body, (LOWER * s, 0, 0), (LOWER * s, 0, 0), R_PAW * s, paw_part, 1),
        ]
    return Geometry.build(caps)


def _leg_angles(phase: float, front: bool, side: int, speed: float) -> tuple[float, float]:
    """(upper, lower) swing angles: a trot moves the front-left and hind-right legs together."""
    effort = np.clip(speed / 1.2, 0.3, 1.3)
    phi = phase + (0.0 if front == (side == 1) else np.pi)
    upper = 0.35 * effort * np.sin(phi)
    fold = 0.15 + 0.7 * effort * max(0.0, np.cos(phi + 0.3)) ** 2
    return upper, upper + fold if front else upper - fold


def pose(root: np.ndarray, frame: np.ndarray, size: float, phase: float, speed: float):
    """Body rotations (9, 3, 3), positions (9, 3) and AP-10K keypoints (17, 3)."""
    s, left = size, frame[:, 1]
    dirs = {}
    for front, side in LEGS:
        upper, lower = _leg_angles(phase, front, side, speed)
        dirs[front, side] = (swing(frame, upper, 0.02 * side), swing(frame, lower, 0.02 * side))
    drop = max(-(UPPER * u[2] + LOWER * low[2]) * s for u, low in dirs.values()) - HIP_Z * s
    hips = root + np.array([0.0, 0.0, drop + R_PAW * s])
    rot = np.zeros((NUM_BODIES, 3, 3))
    pos = np.zeros((NUM_BODIES, 3))
    rot[0], pos[0] = frame, hips
    legs = {}
    for (front, side), (upper_body, lower_body) in LEGS.items():
        upper, lower = dirs[front, side]
        top = transform(frame, hips, _attach(front, side, s))
        knee = top + UPPER * s * upper
        rot[upper_body], pos[upper_body] = limb_frame(upper, left), top
        rot[lower_body], pos[lower_body] = limb_frame(lower, left), knee
        legs[front, side] = (top, knee, knee + LOWER * s * lower)
    return rot, pos, _keypoints(frame, hips, s, legs)


def _keypoints(frame: np.ndarray, hips: np.ndarray, s: float, legs: dict) -> np.ndarray:
    eye_dirs = np.array([[0.55, 0.5, 0.45], [0.55, -0.5, 0.45]])
    eye_dirs /= np.linalg.norm(eye_dirs, axis=1, keepdims=True)
    head = np.multiply(HEAD_CENTRE, s)
    local = np.concatenate([
        head + 0.93 * R_HEAD * s * eye_dirs,
        [np.multiply(SNOUT_TIP, s) + [0.04 * s, 0.0, 0.0], [BODY * s, 0.0, 0.12 * s], [-0.12 * s, 0.0, 0.05 * s]],
    ])  # fmt: skip
    limbs = [p for key in ((True, 1), (True, -1), (False, 1), (False, -1)) for p in legs[key]]
    return np.concatenate([transform(frame, hips, local), np.stack(limbs)])


def keypoint_tolerance(size: float) -> np.ndarray:
    """How far (m) in front of each AP-10K keypoint the first surface may lie with it visible."""
    leg = [2 * R_BODY, 2 * R_UPPER, 2 * R_PAW]
    return np.array([0.4 * R_HEAD] * 2 + [0.1] + [2 * R_BODY] * 2 + leg * 4) * size
