"""Attention kernels by name (`config.model.attention`): xla, flash, chunked, splash.

Every kernel takes q (B, Lq, N, D), k and v (B, Lk, N, D) and returns (B, Lq, N, D) (xla.py says how
padding, the per-sample key mask `kv_mask` (B, Lk) and precision are handled). Where the active
parallelism rules shard the token sequence, `get_kernel` wraps the named kernel in the preset's
strategy (context.py: K/V all-gather, Ulysses or ring); the model only ever calls "the kernel".
"""

from __future__ import annotations

import functools
from typing import Callable

import jax

from unityvideo_jax.attention.context import sequence_parallel
from unityvideo_jax.attention.flash import flash_attention
from unityvideo_jax.attention.xla import chunked_attention, xla_attention


def splash_attention(q, k, v, kv_valid=None, kv_mask=None):
    """The Pallas splash-attention kernel (TPU only); imported on use, so CPU runs never load Pallas."""
    from unityvideo_jax.attention.splash import splash_attention as splash

    return splash(q, k, v, kv_valid, kv_mask)


KERNELS: dict[str, Callable[..., jax.Array]] = {
    "xla": xla_attention,
    "flash": flash_attention,  # the written (flash-style) backward: attention/flash.py
    "chunked": chunked_attention,
    "splash": splash_attention,
}


def local_kernel(name: str, chunk: int = 0) -> Callable[..., jax.Array]:
    """The kernel registered under `name`, as it runs on one device's whole sequence."""
    if name not in KERNELS:
        raise ValueError(f"config.model.attention={name!r}: expected one of {sorted(KERNELS)}")
    kernel = KERNELS[name]
    return functools.partial(kernel, chunk=chunk) if name == "chunked" else kernel


def get_kernel(name: str, chunk: int = 0) -> Callable[..., jax.Array]:
    """The kernel `name`, wrapped in the context-parallel strategy of the active rules (if any):
    `attend(q, k, v, kv_mask=None)`, kv_mask (B, Lk) bool for self-attention only (False: an absent key)."""
    return sequence_parallel(local_kernel(name, chunk), name)
