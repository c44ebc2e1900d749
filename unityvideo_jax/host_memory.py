"""Host malloc settings that keep XLA:CPU's per-call scratch memory mapped between calls.

XLA:CPU allocates each executable's temporary buffer (one block the size of
`compiled.memory_analysis().temp_size_in_bytes`, 100+ MB for a training step) with `malloc` from
one of its worker threads. glibc serves a thread from a per-thread arena whose heaps are at most
64 MB, so a larger block bypasses the heap: it is `mmap`ed for the call and `munmap`ed after it,
and every page of it faults in again on the next call. On the 2-core test machine that was a third
of a training step's CPU time (28,000 minor faults and ~70 ms of system time a step).

`configure()` routes every thread to the main arena (`M_ARENA_MAX = 1`), which grows with `brk`
without a size cap, and stops glibc from mapping or trimming large blocks (`M_MMAP_THRESHOLD`,
`M_TRIM_THRESHOLD` at 1 and 2 GiB), so the scratch block is reused warm from the second call on. Measured
in BENCHMARKS.md ("Speed"). It must run before XLA's threads first allocate, i.e. before the first
JAX computation; `import unityvideo_jax` calls it.

It applies only where XLA runs on the host CPU: not when an accelerator is visible (TPU VMs and GPU
machines, whose scratch lives on the device), not on a libc other than glibc, and not when
`UNITYVIDEO_HOST_MALLOC=default` is set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import platform

ENV = "UNITYVIDEO_HOST_MALLOC"  # "default" leaves glibc's settings alone

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap, not from mmap
TRIM_THRESHOLD = (1 << 31) - 1  # the heap keeps up to 2 GiB free at its top (mallopt takes an int)

# Device files whose presence means XLA computes on an accelerator, not the host CPU.
ACCELERATOR_DEVICES = ("/dev/accel*", "/dev/vfio/[0-9]*", "/dev/nvidia[0-9]*", "/dev/kfd")

_state: dict[str, object] = {"applied": None}


def accelerator_visible() -> bool:
    """Whether JAX will compute on a TPU or GPU here (unless `JAX_PLATFORMS=cpu` says otherwise)."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms.split(",")[0] != "cpu"
    return any(glob.glob(pattern) for pattern in ACCELERATOR_DEVICES)


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def configure() -> bool:
    """Apply the settings once per process; returns whether they are in effect."""
    if _state["applied"] is not None:
        return bool(_state["applied"])
    applied = False
    if os.environ.get(ENV, "").lower() != "default" and not accelerator_visible():
        libc = _glibc()
        if libc is not None:
            # mallopt returns 1 on success; all three or the reuse does not happen.
            applied = all(libc.mallopt(param, value) == 1 for param, value in (
                (M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
    _state["applied"] = applied
    return applied


def applied() -> bool:
    """Whether `configure()` changed this process's malloc settings."""
    return bool(_state["applied"])
