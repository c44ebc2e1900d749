"""Ground truth -> the RGB video a VAE sees for each modality, and back.

Depth and flow follow the release's conventions; segmentation, skeletons and DensePose have colour
codes of their own, chosen so that the mean of what a pixel might be (what a model trained with a
squared error draws when it is unsure) still reads as something likely. Normalisation is fixed, so
one colour always means one value across clips and every rendering can be decoded:
- depth: log depth over [DEPTH_NEAR, DEPTH_FAR] metres on a jet-like ramp, near warm, far cool;
- flow: the Middlebury colour wheel, white at rest, saturated at FLOW_MAX_FRACTION * width pixels
  (longer flows saturate);
- segmentation: instances numbered by decreasing visible area over the clip, instance i in palette
  colour i on black; the three largest are red, green and blue, so an unsure prediction's blend of
  them reads back as chances (segmentation_image.py);
- skeleton: joints as full-strength discs and limbs as dim lines on black, R their strength and
  (G, B) / R the joint's place on a chart of rows (eyes ... ankles) and sides (skeleton_image.py);
- densepose: R = 255 on the body, (G, B) the pixel's place on a T-pose chart of the body where each
  part owns a rectangle and (U, V) place it inside, black off the body (densepose_image.py).
Decoders take uint8 or float videos (F, H, W, 3) in 0..255 and tolerate moderate noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.render.colormaps import DEPTH_CURVE, FLOW_WHEEL, WHEEL_STEPS
from unityvideo_jax.data.render.densepose_image import decode_body_chart, render_body_chart
from unityvideo_jax.data.render.segmentation_image import SEGMENTATION_PALETTE, decode_instances, render_instances
from unityvideo_jax.data.render.skeleton_image import draw_joints, draw_skeletons, find_joints

DEPTH_NEAR, DEPTH_FAR = 0.25, 100.0  # metres
FLOW_MAX_FRACTION = 0.15  # saturation magnitude as a share of the frame width


def _u8(colour: np.ndarray) -> np.ndarray:
    return np.clip(np.round(colour), 0, 255).astype(np.uint8)


def _video(video: np.ndarray) -> np.ndarray:
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"video of shape {video.shape}: expected (frames, height, width, 3) RGB in 0..255")
    return video.astype(np.float32)


# Depth.
def render_depth(depth: np.ndarray) -> np.ndarray:
    s = np.log(np.clip(depth, DEPTH_NEAR, DEPTH_FAR) / DEPTH_NEAR) / np.log(DEPTH_FAR / DEPTH_NEAR)
    return _u8(DEPTH_CURVE.colour(1.0 - s))


def decode_depth(video: np.ndarray) -> dict[str, np.ndarray]:
    nearness, _ = DEPTH_CURVE.param(_video(video))
    return {"depth": (DEPTH_NEAR * np.exp((1.0 - nearness) * np.log(DEPTH_FAR / DEPTH_NEAR))).astype(np.float32)}


# Optical flow.
def render_flow(flow: np.ndarray) -> np.ndarray:
    limit = FLOW_MAX_FRACTION * flow.shape[-2]
    radius = np.minimum(np.linalg.norm(flow, axis=-1) / limit, 1.0)
    param = (np.arctan2(-flow[..., 1], -flow[..., 0]) / np.pi + 1.0) / 2.0 * WHEEL_STEPS
    hue = FLOW_WHEEL.colour(np.mod(param, WHEEL_STEPS))
    return _u8(255.0 - radius[..., None] * (255.0 - hue))


def decode_flow(video: np.ndarray) -> dict[str, np.ndarray]:
    """Magnitude is the colour's chroma (max - min channel), the direction its wheel position once
    stretched back to full saturation. A rendering always has a channel at 255 and the chroma equals
    its distance from white; a blend of renderings (an unsure model's mean) is greyer, and the chroma
    reads it as the blend of the flows: opposite motions cancel to rest instead of decoding to a
    long flow in an arbitrary direction."""
    video = _video(video)
    top, low = video.max(-1), video.min(-1)
    chroma = np.clip(top - low, 0.0, 255.0)
    radius = chroma / 255.0
    hue = 255.0 * (video - low[..., None]) / np.maximum(chroma, 1e-6)[..., None]
    param, _ = FLOW_WHEEL.param(hue)
    angle = np.pi * (2.0 * param / WHEEL_STEPS - 1.0)
    magnitude = radius * FLOW_MAX_FRACTION * video.shape[-2]
    flow = -magnitude[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    return {"flow": flow.astype(np.float32)}


# Segmentation (segmentation_image.py renders).
def decode_segmentation(video: np.ndarray, **options: Any) -> dict[str, np.ndarray]:
    """Instance ids (0 background) of a rendering; `options` (`min_pixels`, `min_share`) set the
    size below which a predicted instance is a speck (segmentation_image.decode_instances)."""
    instances = decode_instances(_video(video), **options)
    return {"instances": instances, "foreground": instances > 0}


# DensePose (densepose_image.py renders).
def render_densepose(parts: np.ndarray, uv: np.ndarray) -> np.ndarray:
    return render_body_chart(parts, uv)


def decode_densepose(video: np.ndarray, median: int = 1) -> dict[str, np.ndarray]:
    """Part ids `parts` (0 off the body) and chart coordinates `uv`; `median` > 1 filters the colours
    over median x median pixels first: a noisy (e.g. VAE-decoded) rendering's parts come out much
    more accurate, at a small cost on part borders."""
    return decode_body_chart(_video(video), median)


# Skeleton.
def render_skeleton(
    keypoints: np.ndarray, visibility: np.ndarray, figure_kinds: tuple[str, ...], size: tuple[int, int]
) -> np.ndarray:
    return draw_skeletons(np.asarray(keypoints), np.asarray(visibility, bool), tuple(figure_kinds), *size)


def decode_skeleton(video: np.ndarray, min_area: int = 2) -> dict[str, np.ndarray]:
    """Joint candidates `joints` (F, 17, K, 2) and `found` (F, 17, K): one blob per figure
    showing the joint; `skeleton_image.nearest_blob_distance` matches them to ground truth."""
    return find_joints(_video(video), min_area)


# Dispatch: which ground-truth arrays each rendering reads, and the decoders.
def _size(arrays: Mapping[str, Any]) -> tuple[int, int]:
    """(height, width) of the clip: `size` if given, else the shape of any per-pixel array."""
    if "size" in arrays:
        return tuple(arrays["size"])
    for name in ("rgb", "depth", "instances", "parts", "flow", "uv"):
        if name in arrays:
            return tuple(np.shape(arrays[name])[1:3])
    raise ValueError(
        "skeleton rendering needs the frame size: pass `size` = (height, width) or a per-pixel array such as `rgb`"
    )


RENDERERS: dict[str, Callable[[Mapping[str, Any]], np.ndarray]] = {
    "depth": lambda a: render_depth(np.asarray(a["depth"])),
    "flow": lambda a: render_flow(np.asarray(a["flow"])),
    "segmentation": lambda a: render_instances(a["instances"]),
    "skeleton": lambda a: render_skeleton(
        a["keypoints"], a["visibility"], a.get("figure_kinds", ("human",) * np.shape(a["keypoints"])[1]), _size(a)
    ),
    "densepose": lambda a: render_densepose(np.asarray(a["parts"]), np.asarray(a["uv"])),
}
DECODERS: dict[str, Callable[[np.ndarray], dict[str, np.ndarray]]] = {
    "depth": decode_depth,
    "flow": decode_flow,
    "segmentation": decode_segmentation,
    "skeleton": decode_skeleton,
    "densepose": decode_densepose,
}
NEEDS = {
    "depth": ("depth",),
    "flow": ("flow",),
    "segmentation": ("instances",),
    "skeleton": ("keypoints", "visibility"),
    "densepose": ("parts", "uv"),
}


def _arrays(clip_or_arrays: Any) -> Mapping[str, Any]:
    if dataclasses.is_dataclass(clip_or_arrays):
        return {f.name: getattr(clip_or_arrays, f.name) for f in dataclasses.fields(clip_or_arrays)}
    return clip_or_arrays


def render(name: str, clip_or_arrays: Any) -> np.ndarray:
    """uint8 video (F, H, W, 3) of modality `name` (ours or the release's: `raft` is flow) from a Clip
    or a mapping of its arrays."""
    name = modalities.get(name).name
    arrays = _arrays(clip_or_arrays)
    missing = [key for key in NEEDS[name] if key not in arrays]
    if missing:
        raise ValueError(f"rendering {name} needs the arrays {', '.join(NEEDS[name])}; missing {', '.join(missing)}")
    return RENDERERS[name](arrays)


def decode(name: str, video: np.ndarray, **options: Any) -> dict[str, np.ndarray]:
    """The quantities a (possibly noisy) rendering of modality `name` shows, as a dict of arrays;
    `options` go to the decoder (densepose: `median`; skeleton: `min_area`; segmentation: `min_pixels`,
    `min_share`)."""
    name = modalities.get(name).name
    return DECODERS[name](video, **options)


def render_reading(name: str, video: np.ndarray, **options: Any) -> np.ndarray:
    """uint8 video (F, H, W, 3): what `decode(name, video, **options)` reads in a (possibly blurred,
    blended) prediction, drawn again as a clean rendering: what the scores see. Skeletons show the
    joints found, as discs without limbs (which figure a joint belongs to is not decoded)."""
    name = modalities.get(name).name
    decoded = decode(name, video, **options)
    if name == "skeleton":
        return draw_joints(decoded["joints"], decoded["found"], *np.shape(video)[1:3])
    if name == "segmentation":  # ids are palette entries already: no renumbering
        return SEGMENTATION_PALETTE[decoded["instances"]]
    return RENDERERS[name](decoded)
