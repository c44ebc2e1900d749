"""The UniSynth renderer: one exact ray per pixel, and every ground truth from the same hit.

The caster finds each ray's first surface: ground, backdrop, or a solid (capsule or box), each
solid tested only on the rays near its bounding sphere. From the hit point come the colour (texture in the surface's
own frame, Lambertian shading), the z-depth, the instance, the body part and its UV, and the flow:
the point's body-frame coordinates are carried to the next time's pose of the same body and
projected by the next time's camera.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax.data.unisynth import intersect
from unityvideo_jax.data.unisynth.camera import NEAR, Camera
from unityvideo_jax.data.unisynth.materials import Backdrop, albedo, shade, to_uint8
from unityvideo_jax.data.unisynth.world import BACKDROP, FIRST_SOLID, GROUND, Posed, World, body_local, body_world


@dataclasses.dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32, camera z in metres
    flow: np.ndarray  # (H, W, 2) float32, pixels to the next time
    instances: np.ndarray  # (H, W) int32
    parts: np.ndarray  # (H, W) uint8
    uv: np.ndarray  # (H, W, 2) float32


def _background(origin: np.ndarray, dirs: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    t = intersect.ground(origin, dirs)
    far = intersect.backdrop(origin, dirs, np.zeros(2), radius)
    return np.minimum(t, far), np.where(far < t, BACKDROP, GROUND)


def _nearest_solids(
    world: World, posed: Posed, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray, prim: np.ndarray, candidates
) -> None:
    """Lower `t` and set `prim` (N,) in place wherever a solid is nearer; solid s is tested exactly
    only on the rays `candidates(s)` returns (those near its bounding sphere)."""
    g, num_caps = world.capsule, world.num_capsules
    for s in range(len(posed.solid_bounds)):
        rays = candidates(s)
        if rays.size == 0:
            continue
        if s < num_caps:
            cut = slice(s, s + 1)
            a, b = posed.capsule_a[cut], posed.capsule_b[cut]
            hit = intersect.capsules(origin, dirs[rays], a, b, g.capsule_radius[cut])
        else:
            cut = slice(s - num_caps, s - num_caps + 1)
            hit = intersect.boxes(origin, dirs[rays], posed.box_rotation[cut], posed.box_centre[cut], g.box_half[cut])
        closer = hit[:, 0] < t[rays]
        t[rays[closer]], prim[rays[closer]] = hit[closer, 0], FIRST_SOLID + s


def cast(
    world: World, posed: Posed, radius: float, origin: np.ndarray, dirs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First-hit distance (N,) and primitive id (N,) of any rays from `origin` along `dirs` (N, 3)."""
    t, prim = _background(origin, dirs, radius)
    near = intersect.sphere_overlap(origin, dirs, posed.solid_bounds[:, :3], posed.solid_bounds[:, 3])
    _nearest_solids(world, posed, origin, dirs, t, prim, lambda s: np.flatnonzero(near[:, s]))
    return t, prim


def cast_pixels(world: World, posed: Posed, radius: float, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray directions (H*W, 3), first-hit distance and primitive id (H*W,) of every pixel centre.
    A solid is tested only on the pixel rectangle its bounding sphere projects into."""
    dirs = camera.pixel_rays()
    t, prim = _background(camera.origin, dirs, radius)
    boxes = camera.sphere_boxes(posed.solid_bounds[:, :3], posed.solid_bounds[:, 3])

    def rectangle(s: int) -> np.ndarray:
        x0, x1, y0, y1 = boxes[s]
        return (np.arange(y0, y1)[:, None] * camera.width + np.arange(x0, x1)[None, :]).ravel()

    _nearest_solids(world, posed, camera.origin, dirs, t, prim, rectangle)
    return dirs, t, prim


def _normals(
    world: World, posed: Posed, backdrop: Backdrop, points: np.ndarray, prim: np.ndarray, local: np.ndarray
) -> np.ndarray:
    normals = np.zeros_like(points)
    normals[prim == GROUND] = (0.0, 0.0, 1.0)
    back = prim == BACKDROP
    normals[back, :2] = -points[back, :2] / backdrop.radius
    cap = (prim >= FIRST_SOLID) & (prim < FIRST_SOLID + world.num_capsules)
    k = prim[cap] - FIRST_SOLID
    radius = world.capsule.capsule_radius[k]
    normals[cap] = intersect.capsule_normals(points[cap], posed.capsule_a[k], posed.capsule_b[k], radius)
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
    world: World,
    backdrop: Backdrop,
    light: np.ndarray,
    posed: Posed,
    posed_next: Posed,
    camera: Camera,
    camera_next: Camera,
) -> Frame:
    h, w = camera.height, camera.width
    dirs, t, prim = cast_pixels(world, posed, backdrop.radius, camera)
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
    x, y = xy[..., 0], xy[..., 1]
    inside = (x >= -0.5) & (x < camera.width - 0.5) & (y >= -0.5) & (y < camera.height - 0.5)
    visible = (z > NEAR) & inside & (owner == figure_ids) & (t >= z - tolerance)
    return xy.astype(np.float32), visible
