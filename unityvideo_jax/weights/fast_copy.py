"""Fast host copies for checkpoint conversion: tiled transposes and plain copies over threads.

A PyTorch Linear weight is [out, in] and ours is [in, out], so nearly every byte of a checkpoint
passes through a transposing copy. numpy's transposed copy of a whole matrix walks one side with a
large stride and runs at about 0.3 GB/s; copying square tiles small enough for the cache (256 x 256
of 2-byte values: 128 KiB a side) runs about six times faster, and numpy drops the GIL inside each
tile, so the tiles of one matrix spread over a thread pool. Equal 2-byte dtypes (bf16 -> bf16) copy
as uint16, which takes numpy's native loops instead of the ml_dtypes element hooks.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

TILE = 256  # rows and columns of a square tile
_MIN_PARALLEL_BYTES = 4 << 20  # below this a copy stays on the calling thread
_POOL: ThreadPoolExecutor | None = None


def workers() -> int:
    """Threads used for one copy: the cores this process may run on, at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(16, cores))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(workers(), thread_name_prefix="unityvideo-copy")
    return _POOL


def _same_width_bits(dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as unsigned ints of their width when no cast is needed (numpy's fastest loops)."""
    if dst.dtype == src.dtype and dst.dtype.itemsize in (1, 2, 4, 8) and dst.dtype.kind not in "biu":
        bits = np.dtype(f"u{dst.dtype.itemsize}")
        return dst.view(bits), src.view(bits)
    return dst, src


def _bands(rows: int, step: int, parts: int) -> list[tuple[int, int]]:
    """`rows` split into at most `parts` bands whose starts are multiples of `step`."""
    blocks = -(-rows // step)
    per = -(-blocks // parts)
    return [(b * step, min(rows, (b + per) * step)) for b in range(0, blocks, per)]


def _run(bands, job, nbytes: int) -> None:
    if len(bands) == 1 or nbytes < _MIN_PARALLEL_BYTES:
        for band in bands:
            job(*band)
        return
    for future in [_pool().submit(job, *band) for band in bands]:
        future.result()  # re-raises a worker's error here


def transpose_into(dst: np.ndarray, src: np.ndarray) -> None:
    """dst[...] = src.T for 2-D arrays, casting to dst's dtype on the way."""
    if dst.shape != src.shape[::-1] or src.ndim != 2:
        raise ValueError(f"cannot transpose {src.shape} into {dst.shape}")
    dst, src = _same_width_bits(dst, src)
    rows, cols = src.shape

    def band(start: int, stop: int) -> None:
        for i in range(start, stop, TILE):
            for j in range(0, cols, TILE):
                dst[j : j + TILE, i : i + TILE] = src[i : i + TILE, j : j + TILE].T

    _run(_bands(rows, TILE, workers()), band, src.nbytes)


def copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    """dst[...] = src for arrays of one shape, in row bands over the thread pool."""
    if dst.shape != src.shape:
        raise ValueError(f"cannot copy {src.shape} into {dst.shape}")
    dst, src = _same_width_bits(dst, src)
    if src.ndim == 0:
        dst[...] = src
        return

    def band(start: int, stop: int) -> None:
        dst[start:stop] = src[start:stop]

    _run(_bands(src.shape[0], 1, workers()), band, src.nbytes)
