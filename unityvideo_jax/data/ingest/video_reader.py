"""Reading a training clip from a video file: the first frames, centre-cropped, resized, sampled.

ffmpeg (imageio-ffmpeg) crops and scales while decoding, so only small frames reach Python, and
decoding stops after MAX_SOURCE_FRAMES. `frames` frames are then taken uniformly from those read.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

# imageio-ffmpeg warns whenever output and source sizes differ, which is every video here.
logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)

MAX_SOURCE_FRAMES = 400  # sample from at most the first 400 frames (about 13-16 s)
SCALERS = {"nearest": "neighbor", "smooth": "area"}  # ffmpeg's scaler per kind of video


class VideoError(ValueError):
    """A video that cannot give a clip: unreadable, empty or too short."""


def _filters(height: int, width: int, scaler: str) -> str:
    # Centre crop to the target aspect ratio, then scale; ffmpeg centres a crop by default.
    crop = f"crop=w='min(iw,ih*{width}/{height})':h='min(ih,iw*{height}/{width})'"
    return f"{crop},scale={width}:{height}:flags={SCALERS[scaler]}"


def read_video(path: str | Path, height: int, width: int, scaler: str = "smooth") -> np.ndarray:
    """Up to MAX_SOURCE_FRAMES frames of `path` as uint8 (n, height, width, 3)."""
    import imageio_ffmpeg

    out = []
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-vf", _filters(height, width, scaler)])
    try:
        with warnings.catch_warnings():  # ffmpeg is fork+exec'd: JAX's fork warning does not apply
            warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
            meta = next(reader)
        if tuple(meta["size"]) != (width, height):
            raise VideoError(f"{path}: ffmpeg produced {meta['size']} frames, expected {width}x{height}")
        for raw in reader:
            out.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            if len(out) == MAX_SOURCE_FRAMES:
                break
    except (RuntimeError, OSError, StopIteration, KeyError) as err:
        detail = str(err).strip().splitlines()
        raise VideoError(f"cannot decode {path}: {detail[-1] if detail else type(err).__name__}") from err
    finally:
        reader.close()  # stops ffmpeg after the frames we need
    if not out:
        raise VideoError(f"cannot decode {path}: no frames")
    return np.stack(out)


def sample_frames(video: np.ndarray, frames: int, path: str | Path = "video") -> np.ndarray:
    """`frames` frames spread uniformly over `video` (first and last included)."""
    if len(video) < frames:
        raise VideoError(f"{path} is too short: {len(video)} frames, the config needs {frames}")
    index = np.round(np.linspace(0, len(video) - 1, frames)).astype(int)
    return video[index]
