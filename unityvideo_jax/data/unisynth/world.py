"""A scene flattened into the arrays the renderer reads, and its pose at any time.

Instances are numbered figures first, then objects, from 1 (0 is ground and backdrop); figure p is
instance p + 1. Body 0 is the static world. Primitive ids, which the caster returns: 0 ground,
1 backdrop, then every capsule, then every box.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax.data.unisynth.bodies import Geometry
from unityvideo_jax.data.unisynth.materials import Material, MaterialTable

GROUND, BACKDROP, FIRST_SOLID = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Posed:
    """The world at one instant: body poses and the primitives in world space."""

    rotation: np.ndarray  # (B, 3, 3) body-to-world
    position: np.ndarray  # (B, 3)
    capsule_a: np.ndarray  # (K, 3)
    capsule_b: np.ndarray  # (K, 3)
    box_rotation: np.ndarray  # (M, 3, 3)
    box_centre: np.ndarray  # (M, 3)
    solid_bounds: np.ndarray  # (K + M, 4) bounding sphere (centre, radius) per capsule, then box
    keypoints: np.ndarray  # (P, 17, 3) world keypoints per figure


@dataclasses.dataclass(frozen=True)
class World:
    movers: tuple  # figures then objects; each has num_bodies, geometry() and pose(time)
    num_figures: int
    body_start: np.ndarray  # (I,) first global body of each instance
    capsule: Geometry  # merged geometry with global bodies and materials
    capsule_instance: np.ndarray  # (K,) instance id
    box_instance: np.ndarray  # (M,) instance id
    chart_axis: np.ndarray  # (K, 3) body-frame axis a capsule's UV runs along
    chart_ref: np.ndarray  # (K, 3) body-frame direction where its around-the-axis V is 0.5
    materials: MaterialTable  # material 0 is the ground
    prim_body: np.ndarray  # (2 + K + M,) body of each primitive id
    prim_instance: np.ndarray  # (2 + K + M,)
    prim_part: np.ndarray  # (2 + K + M,)
    prim_material: np.ndarray  # (2 + K + M,)

    @classmethod
    def of(cls, figures: tuple, objects: tuple, ground: Material) -> "World":
        movers = tuple(figures) + tuple(objects)
        caps, boxes, materials = [], [], [ground]
        cap_inst, box_inst, body_start, body = [], [], [], 1
        for inst, mover in enumerate(movers, start=1):
            g = mover.geometry()
            slots = mover.materials if hasattr(mover, "materials") else (mover.material,)
            offset = len(materials)
            materials += list(slots)
            caps += [(body + b, a, bb, r, p, offset + m) for b, a, bb, r, p, m in zip(*_capsule_rows(g))]
            boxes += [(body + b, h, offset + m) for b, h, m in zip(g.box_body, g.box_half, g.box_material)]
            cap_inst += [inst] * len(g.capsule_body)
            box_inst += [inst] * len(g.box_body)
            body_start.append(body)
            body += mover.num_bodies
        merged = Geometry.build(caps, boxes)
        axis, ref = _charts(merged)
        statics = np.zeros(2, np.int64)
        return cls(
            movers,
            len(figures),
            np.array(body_start, np.int64),
            merged,
            np.array(cap_inst, np.int64),
            np.array(box_inst, np.int64),
            axis,
            ref,
            MaterialTable.of(materials),
            np.concatenate([statics, merged.capsule_body, merged.box_body]),
            np.concatenate([statics, cap_inst, box_inst]).astype(np.int64),
            np.concatenate([statics, merged.capsule_part, np.zeros(len(boxes), np.int64)]),
            np.concatenate([statics, merged.capsule_material, merged.box_material]),
        )

    @property
    def num_capsules(self) -> int:
        return len(self.capsule.capsule_body)

    def posed(self, time: float) -> Posed:
        rot, pos, keypoints = [np.eye(3)[None]], [np.zeros((1, 3))], []
        for mover in self.movers:
            r, p, *kp = mover.pose(time)
            rot.append(r)
            pos.append(p)
            keypoints += kp
        rot, pos = np.concatenate(rot), np.concatenate(pos)
        g = self.capsule
        cb = g.capsule_body
        a = np.einsum("kij,kj->ki", rot[cb], g.capsule_a) + pos[cb]
        b = np.einsum("kij,kj->ki", rot[cb], g.capsule_b) + pos[cb]
        box_rot, box_centre = rot[g.box_body], pos[g.box_body]
        kps = np.stack(keypoints) if keypoints else np.zeros((0, 17, 3))
        cap_reach = 0.5 * np.linalg.norm(b - a, axis=-1) + g.capsule_radius
        bounds = np.concatenate([
            np.concatenate([0.5 * (a + b), cap_reach[:, None]], -1),
            np.concatenate([box_centre, np.linalg.norm(g.box_half, axis=-1)[:, None]], -1),
        ])  # fmt: skip
        return Posed(rot, pos, a, b, box_rot, box_centre, bounds + [0, 0, 0, 1e-6], kps)


def _capsule_rows(g: Geometry):
    return g.capsule_body, g.capsule_a, g.capsule_b, g.capsule_radius, g.capsule_part, g.capsule_material


def _charts(g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Per capsule the unit axis its U runs along (a sphere's is its body's z) and a perpendicular
    reference direction for the angle V around it."""
    axis = g.capsule_b - g.capsule_a
    length = np.linalg.norm(axis, axis=-1, keepdims=True)
    axis = np.where(length > 1e-9, axis / np.maximum(length, 1e-9), np.array([0.0, 0.0, 1.0]))
    helper = np.where(np.abs(axis[:, 2:3]) < 0.9, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    ref = np.cross(axis, helper)
    return axis, ref / np.linalg.norm(ref, axis=-1, keepdims=True)


def body_local(posed: Posed, bodies: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Body-frame coordinates (N, 3) of world points (N, 3) on the given bodies (N,)."""
    return np.einsum("nij,ni->nj", posed.rotation[bodies], points - posed.position[bodies])


def body_world(posed: Posed, bodies: np.ndarray, local: np.ndarray) -> np.ndarray:
    """World points (N, 3) of body-frame points (N, 3) on bodies (N,) posed at another time."""
    return np.einsum("nij,nj->ni", posed.rotation[bodies], local) + posed.position[bodies]

