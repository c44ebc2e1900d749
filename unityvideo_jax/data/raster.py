"""The UniSynth renderer: one exact ray per pixel, and every ground truth from the same hit.

The caster finds each ray's first surface (ground, backdrop, or the primitives of instances whose
bounding sphere the ray crosses). From the hit point come the colour (texture in the surface's
own frame, Lambertian shading), the z-depth, the instance, the body part and its UV, and the flow:
the point's body-frame coordinates are carried to the next time's pose of the same body and
projected by the next time's camera.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax.data import intersect
from unityvideo_jax.data.camera import NEAR, Camera
from unityvideo_jax.data.materials import Backdrop, albedo, shade, to_uint8
from unityvideo_jax.data.world import BACKDROP, FIRST_SOLID, GROUND, Posed, World, body_local, body_world


@dataclasses.dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32, camera z in metres
    flow: np.ndarray  # (H, W, 2) float32, pixels to the next time
    instances: np.ndarray  # (H, W) int32
    parts: np.ndarray  # (H, W) uint8
    uv: np.ndarray  # (H, W, 2) float32


def cast(world: World, posed: Posed, radius: float, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-hit distance (N,) and primitive id (N,) of rays from `origin` along `dirs` (N, 3)."""
    t = intersect.ground(origin, dirs)
    far = intersect.backdrop(origin, dirs, np.zeros(2), radius)
    prim = np.where(far < t, BACKDROP, GROUND)
    t = np.minimum(t, far)
    if world.num_instances == 0:
        return t, prim
    crosses = intersect.sphere_overlap(origin, dirs, posed.bounds[:, :3], posed.bounds[:, 3])
    g = world.capsule
    for i in range(world.num_instances):
        rays = np.flatnonzero(crosses[:, i])
        if rays.size == 0:
            continue
        caps, boxes = world.instance_capsules(i + 1), world.instance_boxes(i + 1)
        hits = [np.full((rays.size, 0), np.inf)]
        if caps.size:
            hits.append(intersect.capsules(origin, dirs[rays], posed.capsule_a[caps], posed.capsule_b[caps], g.capsule_radius[caps]))
        if boxes.size:
            hits.append(intersect.boxes(origin, dirs[rays], posed.box_rotation[boxes], posed.box_centre[boxes], g.box_half[boxes]))
        hits = np.concatenate(hits, axis=1)
        best = hits.argmin(1)
        best_t = hits[np.arange(rays.size), best]
        ids = np.concatenate([FIRST_SOLID + caps, FIRST_SOLID + world.num_capsules + boxes])[best]
        closer = best_t < t[rays]
        t[rays[closer]] = best_t[closer]
        prim[rays[closer]] = ids[closer]
    return t, prim


def _normals(world: World, posed: Posed, backdrop: Backdrop, points: np.ndarray, prim: np.ndarray, local: np.ndarray) -> np.ndarray:
    normals = np.zeros_like(points)
    normals[prim == GROUND] = (0.0, 0.0, 1.0)
    back = prim == BACKDROP
    normals[back, :2] = -points[back, :2] / backdrop.radius
    cap = (prim >= FIRST_SOLID) & (prim < FIRST_SOLID + world.num_capsules)
    k = prim[cap] - FIRST_SOLID
    normals[cap] = intersect.capsule_normals(points[cap], posed.capsule_a[k], posed.capsule_b[k], world.capsule.capsule_radius[k])
    box = prim >= FIRST_SOLID + world.num_capsules
    m = prim[box] - FIRST_SOLID - world.num_capsules
    normals[box] = intersect.box_normals(local[box], posed.box_rotation[m], world.capsule.box_half[m])
    return normals


def _uv(world: World, prim: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Chart coordinates of body-part hits: U along the capsule (caps included), V around it."""
    uv = np.zeros((len(prim), 2))
    on_part = world.prim_part[prim] > 0
    k = prim[on_part] - FIRST_SOLID
    g = world.capsule
    axis, ref = world.chart_axis[k], world.chart_ref[k]
    q = local[on_part] - g.capsule_a[k]
    along = np.einsum("nd,nd->n", q, axis)
    length = np.linalg.norm(g.capsule_b[k] - g.capsule_a[k], axis=-1)
    r = g.capsule_radius[k]
    uv[on_part, 0] = np.clip((along + r) / (length + 2 * r), 0.0, 1.0)
    radial = q - along[:, None] * axis
    angle = np.arctan2(np.einsum("nd,nd->n", radial, np.cross(axis, ref)), np.einsum("nd,nd->n", radial, ref))
    uv[on_part, 1] = angle / (2 * np.pi) + 0.5
    return uv


def render_frame(
    world: World, backdrop: Backdrop, light: np.ndarray, posed: Posed, posed_next: Posed, camera: Camera, camera_next: Camera
) -> Frame:
    h, w = camera.height, camera.width
    dirs = camera.pixel_rays()
    t, prim = cast(world, posed, backdrop.radius, camera.origin, dirs)
    points = camera.origin + t[:, None] * dirs
    bodies = world.prim_body[prim]
    local = body_local(posed, bodies, points)
    normals = _normals(world, posed, backdrop, points, prim, local)

    # Colour: ground textures live in world coordinates, solids in their body's frame.
    ray_len = np.linalg.norm(dirs, axis=-1)
    facing = np.abs(np.einsum("nd,nd->n", normals, dirs)) / ray_len
    footprint = t * ray_len / camera.focal / np.maximum(facing, 0.2)
    colour = shade(albedo(world.materials, world.prim_material[prim], local, footprint), normals, light)
    back = prim == BACKDROP
    colour[back] = backdrop.albedo(points[back])

    # Flow: the same body-frame point, posed at the next time, seen by the next camera.
    moved = body_world(posed_next, bodies, local)
    xy_next, z_next = camera_next.project(moved)
    ys, xs = np.divmod(np.arange(h * w), w)
    flow = xy_next - np.stack([xs, ys], -1)
    flow[z_next <= NEAR] = 0.0  # behind the next camera: no image position to point to

    return Frame(
        to_uint8(colour).reshape(h, w, 3),
        t.astype(np.float32).reshape(h, w),
        flow.astype(np.float32).reshape(h, w, 2),
        world.prim_instance[prim].astype(np.int32).reshape(h, w),
        world.prim_part[prim].astype(np.uint8).reshape(h, w),
        _uv(world, prim, local).astype(np.float32).reshape(h, w, 2),
    )


def keypoints_2d(world: World, posed: Posed, radius: float, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Image positions (P, 17, 2) and visibility (P, 17) of every figure's keypoints.

    A keypoint is visible when it projects inside the image and the ray through its exact image
    position first meets its own figure no further than the keypoint's tolerance in front of it
    (joints sit inside their limbs, so some surface always lies a little in front).
    """
    world_kp = posed.keypoints
    if world_kp.shape[0] == 0:
        return np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), bool)
    xy, z = camera.project(world_kp)
    t, prim = cast(world, posed, radius, camera.origin, camera.ray_directions(xy).reshape(-1, 3))
    t, owner = t.reshape(z.shape), world.prim_instance[prim].reshape(z.shape)
    tolerance = np.stack([world.movers[p].keypoint_tolerance() for p in range(world.num_figures)])
    figure_ids = np.arange(1, world.num_figures + 1)[:, None]
    inside = (xy[..., 0] >= -0.5) & (xy[..., 0] < camera.width - 0.5) & (xy[..., 1] >= -0.5) & (xy[..., 1] < camera.height - 0.5)
    visible = (z > NEAR) & inside & (owner == figure_ids) & (t >= z - tolerance)
    return xy.astype(np.float32), visible
