"""Writing videos: mp4 (imageio-ffmpeg), GIF (Pillow via imageio), and side-by-side grids."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from unityvideo_jax.storage.atomic import atomic_output
from unityvideo_jax.storage.paths import as_path, is_url


def _atomic(path, write):
    """Write through a temporary file (same suffix: the writers pick the format by it) that becomes
    `path` when complete: renamed locally, uploaded whole to a gs:// URL. Returns the path."""
    with atomic_output(path) as tmp:
        write(str(tmp))
    return as_path(path) if is_url(path) else Path(path)


def write_mp4(path, frames: np.ndarray, fps: int = 8) -> Path:
    """uint8 (F, H, W, 3) -> H.264 mp4 (yuv420p, so every player shows it)."""
    import imageio_ffmpeg

    frames = np.asarray(frames, np.uint8)
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]  # yuv420p needs even sizes

    def write(tmp):
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)  # ffmpeg is fork+exec'd
        writer = imageio_ffmpeg.write_frames(tmp, (frames.shape[2], frames.shape[1]), fps=fps, quality=8,
                                             macro_block_size=1, pix_fmt_out="yuv420p")
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()

    return _atomic(path, write)


def write_gif(path, frames: np.ndarray, fps: int = 8, scale: int = 1) -> Path:
    from PIL import Image

    frames = np.asarray(frames, np.uint8)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(f) for f in frames]

    def write(tmp):
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)

    return _atomic(path, write)


def side_by_side(*videos: np.ndarray, gap: int = 2) -> np.ndarray:
    """Videos of equal (F, H) next to each other with a white gap: (F, H, sum W + gaps, 3)."""
    f, h = videos[0].shape[:2]
    white = np.full((f, h, gap, 3), 255, np.uint8)
    parts = []
    for i, v in enumerate(videos):
        parts += ([white] if i else []) + [np.asarray(v, np.uint8)]
    return np.concatenate(parts, axis=2)
