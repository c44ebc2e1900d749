"""A walking person: 11 rigid bodies, 17 capsules, COCO keypoints and 14 DensePose-like parts.

Proportions are fractions of the person's height. The gait is a phase-driven walk cycle: hips swing
in opposition, knees fold during the swing, arms counter-swing; the pelvis height follows the
longer leg so a foot stays on the ground. Every segment keeps its length, so each limb is a rigid
body and the ground-truth motion of its surface is exact.
"""

from __future__ import annotations

import numpy as np

from unityvideo_jax.data.unisynth.bodies import Geometry, limb_frame, swing, transform

# Lengths and radii as fractions of height.
THIGH, SHIN, FOOT, ANKLE_HEIGHT = 0.245, 0.23, 0.13, 0.045
TORSO, NECK, HEAD = 0.30, 0.05, 0.065
UPPER_ARM, FOREARM = 0.17, 0.15
SHOULDER_HALF, HIP_HALF = 0.105, 0.055
R_SPINE, R_SHOULDERS, R_HIPS, R_NECK = 0.085, 0.038, 0.05, 0.03
R_UPPER_ARM, R_FOREARM, R_HAND, R_THIGH, R_SHIN, R_FOOT = 0.03, 0.025, 0.03, 0.045, 0.034, 0.026

# Bodies: 0 torso (pelvis origin; axes forward, left, up), then (left, right) pairs of limbs.
TORSO_BODY = 0
UPPER_ARM_BODY, FOREARM_BODY, THIGH_BODY, SHIN_BODY, FOOT_BODY = (1, 2), (3, 4), (5, 6), (7, 8), (9, 10)
NUM_BODIES = 11
# DensePose-like parts: 1 torso, 2 head, then (right, left) pairs: upper arm 3/4, lower arm 5/6,
# hand 7/8, upper leg 9/10, lower leg 11/12, foot 13/14.
PART = {"torso": 1, "head": 2, "upper_arm": 3, "lower_arm": 5, "hand": 7, "upper_leg": 9, "lower_leg": 11, "foot": 13}
SIDES = (1, -1)  # left, right: +1 is the figure's left


def _side_part(name: str, side: int) -> int:
    return PART[name] + (1 if side == 1 else 0)


def _body(pair: tuple[int, int], side: int) -> int:
    return pair[0] if side == 1 else pair[1]


def geometry(height: float) -> Geometry:
    """Capsules of a person `height` metres tall. Materials: 0 shirt, 1 trousers, 2 skin, 3 shoes."""
    h = height
    top = TORSO * h
    head_z = top + NECK * h + 0.9 * HEAD * h
    caps = [
        (TORSO_BODY, (0, 0, 0.02 * h), (0, 0, top - 0.06 * h), R_SPINE * h, PART["torso"], 0),
        (TORSO_BODY, (0, SHOULDER_HALF * h, top), (0, -SHOULDER_HALF * h, top), R_SHOULDERS * h, PART["torso"], 0),
        (TORSO_BODY, (0, HIP_HALF * h, 0), (0, -HIP_HALF * h, 0), R_HIPS * h, PART["torso"], 1),
        (TORSO_BODY, (0, 0, top), (0, 0, top + NECK * h), R_NECK * h, PART["head"], 2),
        (TORSO_BODY, (0.01 * h, 0, head_z), (0.01 * h, 0, head_z), HEAD * h, PART["head"], 2),
    ]
    hand = ((FOREARM + 0.02) * h, 0, 0)
    for side in SIDES:
        limb = lambda pair, part, start, end, radius, material: (  # noqa: E731
            _body(pair, side), start, end, radius * h, _side_part(part, side), material
        )
        caps += [
            limb(UPPER_ARM_BODY, "upper_arm", (0, 0, 0), (UPPER_ARM * h, 0, 0), R_UPPER_ARM, 0),
            limb(FOREARM_BODY, "lower_arm", (0, 0, 0), (FOREARM * h, 0, 0), R_FOREARM, 2),
            limb(FOREARM_BODY, "hand", hand, hand, R_HAND, 2),
            limb(THIGH_BODY, "upper_leg", (0, 0, 0), (THIGH * h, 0, 0), R_THIGH, 1),
            limb(SHIN_BODY, "lower_leg", (0, 0, 0), (SHIN * h, 0, 0), R_SHIN, 1),
            limb(FOOT_BODY, "foot", (-0.03 * h, 0, 0), (FOOT * h, 0, 0), R_FOOT, 3),
        ]
    return Geometry.build(caps)


def _gait(phase: float, side: int, speed: float) -> tuple[float, float, float, float]:
    """(hip, knee, shoulder, elbow) angles in radians for one side at a gait phase."""
    effort = np.clip(speed / 1.2, 0.3, 1.3)
    phi = phase + (0.0 if side == 1 else np.pi)
    hip = 0.38 * effort * np.sin(phi)
    knee = 0.1 + 0.95 * effort * max(0.0, np.cos(phi + 0.3)) ** 2
    shoulder = -0.32 * effort * np.sin(phi)
    elbow = 0.25 + 0.4 * effort * max(0.0, -np.sin(phi))
    return hip, knee, shoulder, elbow


def pose(root: np.ndarray, frame: np.ndarray, height: float, phase: float, speed: float):
    """Body rotations (11, 3, 3), positions (11, 3) and COCO keypoints (17, 3) of a person whose
    ground point is `root` (3,) and whose torso axes are the columns of `frame`."""
    h, left = height, frame[:, 1]
    rot = np.zeros((NUM_BODIES, 3, 3))
    pos = np.zeros((NUM_BODIES, 3))
    legs = {}
    for side in SIDES:
        hip, knee, _, _ = _gait(phase, side, speed)
        shin = hip - knee  # the shin's swing angle; the foot sits about square to it
        legs[side] = (swing(frame, hip, 0.03 * side), swing(frame, shin, 0.03 * side), swing(frame, shin + 1.45))
    drop = max(-(THIGH * thigh[2] + SHIN * shin[2]) * h for thigh, shin, _ in legs.values())
    pelvis = root + np.array([0.0, 0.0, drop + ANKLE_HEIGHT * h])
    rot[TORSO_BODY], pos[TORSO_BODY] = frame, pelvis
    joints = {}
    for side in SIDES:
        thigh, shin, foot = legs[side]
        _, _, shoulder_angle, elbow_angle = _gait(phase, side, speed)
        hip_p = transform(frame, pelvis, np.array([0.0, side * HIP_HALF * h, 0.0]))
        knee_p = hip_p + THIGH * h * thigh
        ankle_p = knee_p + SHIN * h * shin
        shoulder_p = transform(frame, pelvis, np.array([0.0, side * SHOULDER_HALF * h, TORSO * h]))
        upper = swing(frame, shoulder_angle, 0.12 * side)
        lower = swing(frame, shoulder_angle + elbow_angle, 0.12 * side)
        elbow_p = shoulder_p + UPPER_ARM * h * upper
        wrist_p = elbow_p + FOREARM * h * lower
        for pair, direction, origin in (
            (UPPER_ARM_BODY, upper, shoulder_p), (FOREARM_BODY, lower, elbow_p), (THIGH_BODY, thigh, hip_p),
            (SHIN_BODY, shin, knee_p), (FOOT_BODY, foot, ankle_p),
        ):  # fmt: skip
            rot[_body(pair, side)], pos[_body(pair, side)] = limb_frame(direction, left), origin
        joints[side] = (shoulder_p, elbow_p, wrist_p, hip_p, knee_p, ankle_p)
    return rot, pos, _keypoints(frame, pelvis, h, joints)


def _keypoints(frame: np.ndarray, pelvis: np.ndarray, h: float, joints: dict) -> np.ndarray:
    head = transform(frame, pelvis, np.array([0.01 * h, 0.0, (TORSO + NECK + 0.9 * HEAD) * h]))
    # nose, left eye, right eye, left ear, right ear in torso axes (forward, left, up)
    face_dirs = np.array([[1, 0, -0.1], [0.85, 0.35, 0.25], [0.85, -0.35, 0.25], [-0.1, 1, 0.1], [-0.1, -1, 0.1]])
    face_dirs /= np.linalg.norm(face_dirs, axis=1, keepdims=True)
    face = head + 0.93 * HEAD * h * face_dirs @ frame.T
    (ls, le, lw, lh, lk, la), (rs, re, rw, rh, rk, ra) = joints[1], joints[-1]
    return np.concatenate([face, np.stack([ls, rs, le, re, lw, rw, lh, rh, lk, rk, la, ra])])


def keypoint_tolerance(height: float) -> np.ndarray:
    """How far (m) in front of each COCO keypoint the first surface may lie with the keypoint still
    visible: about the radius of the limb around it (hips sit inside the torso capsule)."""
    h = height
    face = [0.4 * HEAD] * 5
    body = [2 * R_SHOULDERS] * 2 + [2 * R_UPPER_ARM] * 2 + [2 * R_HAND] * 2 + [2 * R_SPINE] * 2
    legs = [2 * R_THIGH] * 2 + [2.5 * R_SHIN] * 2
    return np.array(face + body + legs) * h
