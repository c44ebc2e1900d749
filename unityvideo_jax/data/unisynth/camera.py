"""The pinhole camera of UniSynth and the paths it moves along.

World: metres, z up, the ground is z = 0. Camera space follows OpenCV: x right, y down, z forward.
Pixel (row i, column j) has its centre at image coordinates (x = j, y = i); flow and keypoints use
the same (x, y) convention. Ray directions are scaled so that camera-space z is 1, so the distance
a caster returns along a ray is the z-depth directly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

NEAR = 1e-3  # points closer than this (camera z, metres) cannot be projected


@dataclasses.dataclass(frozen=True)
class Camera:
    origin: np.ndarray  # (3,) world position
    rotation: np.ndarray  # (3, 3) camera-to-world; columns are right, down, forward
    focal: float  # pixels, same for x and y
    height: int
    width: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0

    def ray_directions(self, xy: np.ndarray) -> np.ndarray:
        """World directions (..., 3) with camera z = 1 through image points xy (..., 2)."""
        cx, cy = self.centre
        cam = np.stack([(xy[..., 0] - cx) / self.focal, (xy[..., 1] - cy) / self.focal, np.ones(xy.shape[:-1])], -1)
        return cam @ self.rotation.T

    def pixel_rays(self) -> np.ndarray:
        """Directions (H*W, 3) through every pixel centre, row-major."""
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        return self.ray_directions(np.stack([xs.ravel(), ys.ravel()], -1))

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image points (..., 2) and camera z (...) of world points (..., 3)."""
        cam = (points - self.origin) @ self.rotation
        z = cam[..., 2]
        safe_z = np.where(z > NEAR, z, NEAR)
        cx, cy = self.centre
        xy = np.stack([self.focal * cam[..., 0] / safe_z + cx, self.focal * cam[..., 1] / safe_z + cy], -1)
        return xy, z


    def sphere_boxes(self, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
        """Pixel ranges (K, 4) = (x0, x1, y0, y1), end-exclusive, that hold the image of each sphere
        (K, 3), (K,). Per image axis the sphere's image is bounded by the two planes through the
        camera tangent to it; a sphere the camera is in or that spans 180 degrees gets the whole
        frame. Empty ranges mean the sphere is out of view."""
        cam = (centres - self.origin) @ self.rotation
        ranges = []
        for axis, size, centre in ((0, self.width, self.centre[0]), (1, self.height, self.centre[1])):
            lateral, depth = cam[:, axis], cam[:, 2]
            dist = np.hypot(lateral, depth)
            middle = np.arctan2(lateral, depth)
            half = np.arcsin(np.clip(radii / np.maximum(dist, 1e-9), 0.0, 1.0))
            lo, hi = middle - half, middle + half
            whole = (dist <= radii) | (lo <= -np.pi / 2 + 1e-3) | (hi >= np.pi / 2 - 1e-3)
            first = np.floor(self.focal * np.tan(np.where(whole, 0.0, lo)) + centre) - 1
            last = np.ceil(self.focal * np.tan(np.where(whole, 0.0, hi)) + centre) + 2
            ranges += [np.where(whole, 0, np.clip(first, 0, size)), np.where(whole, size, np.clip(last, 0, size))]
        return np.stack(ranges, -1).astype(np.int64)


def look_rotation(yaw: float, pitch: float) -> np.ndarray:
    """Camera-to-world rotation looking along heading `yaw` (radians from +x toward +y), tilted
    down by `pitch` radians, with no roll."""
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)


def focal_from_fov(vertical_fov: float, height: int) -> float:
    """Focal length in pixels for a vertical field of view in radians."""
    return (height / 2.0) / np.tan(vertical_fov / 2.0)


@dataclasses.dataclass(frozen=True)
class CameraPath:
    """A camera moving smoothly in time: `motion` names how (a key of MOTION_WORDS).

    `target` is the world point the camera frames at time 0; `distance` is how far the camera sits
    from it along its view ray. `rate` is metres/s for translations and radians/s for pan and orbit.
    """

    motion: str
    target: np.ndarray  # (3,)
    yaw: float
    pitch: float
    distance: float
    vertical_fov: float
    rate: float
    follow_velocity: np.ndarray | None = None  # (3,) world velocity for motion "follow"

    def pose(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """(origin, rotation) at `time` seconds."""
        yaw = self.yaw + (self.rate * time if self.motion in ("pan", "orbit") else 0.0)
        rotation = look_rotation(yaw, self.pitch)
        if self.motion == "orbit":  # keep looking at the target while circling it
            return self.target - self.distance * rotation[:, 2], rotation
        rotation0 = look_rotation(self.yaw, self.pitch)
        origin = self.target - self.distance * rotation0[:, 2]
        return origin + _translation(self, rotation0, time), rotation

    def at(self, time: float, height: int, width: int) -> Camera:
        origin, rotation = self.pose(time)
        return Camera(origin, rotation, focal_from_fov(self.vertical_fov, height), height, width)


def _translation(path: CameraPath, rotation0: np.ndarray, time: float) -> np.ndarray:
    right = rotation0[:, 0]
    forward_flat = np.array([np.cos(path.yaw), np.sin(path.yaw), 0.0])
    by_motion = {
        "truck": right * path.rate,
        "dolly": forward_flat * path.rate,
        "follow": path.follow_velocity if path.follow_velocity is not None else np.zeros(3),
    }
    return by_motion.get(path.motion, np.zeros(3)) * time


# How a caption says each motion. A positive rate turns the view counter-clockwise seen from above:
# a pan turns left; an orbit, which keeps facing the target, then carries the camera to its right.
# A positive truck moves right, a positive dolly moves forward.
MOTION_WORDS = {
    "static": ("the camera is static", "the camera is static"),
    "pan": ("the camera pans left", "the camera pans right"),
    "truck": ("the camera moves right", "the camera moves left"),
    "dolly": ("the camera pushes in", "the camera pulls back"),
    "orbit": ("the camera circles right around the scene", "the camera circles left around the scene"),
    "follow": ("the camera follows them", "the camera follows them"),
}


def motion_phrase(path: CameraPath) -> str:
    positive, negative = MOTION_WORDS[path.motion]
    return positive if path.rate >= 0 else negative
