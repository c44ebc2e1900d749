"""Attention under the active mesh and rules: which context-parallel strategy, and its shard_map.

`sequence_parallel(kernel, name)` returns a kernel with the common signature that, when called
inside `jax.set_mesh` + `flax_spmd.logical_axis_rules`, runs `kernel` per device through
`jax.shard_map` with the collectives of the strategy the rules name (rules.py):

  no sharded sequence  the kernel itself (Pallas kernels still get a shard_map over batch/heads)
  allgather            K/V all-gathered over the sequence axes; queries stay local
  ulysses              all-to-all from sequence-sharded to head-sharded and back
  ring                 K/V blocks passed round the ring, softmaxes merged online

A sequence that the axes do not divide is padded at the end and the padded keys masked out.
Cross-attention (keys that are not the sequence: Lk != Lq) needs no collective under any
strategy: queries stay sharded, the text K/V are whole on every device.

A per-sample key mask `kv_mask` (B, L) bool (self-attention only: False for the keys of a sample's
absent modality streams) is sharded like the keys' batch and sequence, padded with False, and moves
as the keys do: all-gathered (allgather, ulysses) or passed round the ring with its K/V block.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax.core import spmd as flax_spmd
from jax.sharding import PartitionSpec as P

from unityvideo_jax.attention.allgather import allgather_attention
from unityvideo_jax.attention.ring import BLOCKS, ring_attention
from unityvideo_jax.attention.ulysses import ulysses_attention
from unityvideo_jax.attention.xla import check_kv_mask
from unityvideo_jax.parallel.rules import mesh_axes_of

PALLAS_KERNELS = ("splash",)  # opaque to XLA's partitioner: always run per device


@dataclasses.dataclass(frozen=True)
class Layout:
    """Mesh axes of q/k/v's batch, sequence and heads as they arrive, and the strategy in force."""

    batch: tuple[str, ...]
    sequence: tuple[str, ...]
    heads: tuple[str, ...]
    strategy: str | None  # None: the sequence is not sharded


def strategy_of(rules) -> str | None:
    """The context-parallel strategy a rules table names (see rules.py), None if none."""
    sequence = mesh_axes_of(rules, "activation_length")
    if not sequence:
        return None
    if mesh_axes_of(rules, "attention_kv_length") == sequence:
        return "ring"
    if set(sequence) <= set(mesh_axes_of(rules, "attention_heads")):
        return "ulysses"
    return "allgather"


def current_layout() -> Layout | None:
    """The layout under the active mesh and rules; None outside them (single device, no policy)."""
    rules = flax_spmd.get_logical_axis_rules()
    mesh = jax.sharding.get_abstract_mesh()
    if not rules or mesh.empty:
        return None
    live = lambda axes: tuple(a for a in axes if mesh.shape[a] > 1)  # noqa: E731  (size-1 axes are free)
    sequence = live(mesh_axes_of(rules, "activation_length"))
    return Layout(
        batch=live(mesh_axes_of(rules, "activation_batch")),
        sequence=sequence,
        heads=live(mesh_axes_of(rules, "activation_heads")),
        strategy=strategy_of(rules) if sequence else None,
    )


def sequence_parallel(kernel, name: str):
    """`kernel` (the local math, registered as `name`) under the active layout's strategy."""

    def attend(q, k, v, kv_mask=None):
        """Attention of q to k/v; `kv_mask` (B, Lk) bool masks keys per sample, self-attention only."""
        if kv_mask is not None:
            check_kv_mask(kv_mask, q, k)
            if k.shape[1] != q.shape[1]:
                raise ValueError(
                    f"kv_mask is for self-attention (Lk == Lq), but k has {k.shape[1]} keys for {q.shape[1]} "
                    "queries: cross-attention to the text takes no key mask"
                )
        layout = current_layout()
        if layout is None or (layout.strategy is None and name not in PALLAS_KERNELS):
            return kernel(q, k, v) if kv_mask is None else kernel(q, k, v, kv_mask=kv_mask)
        return _sharded(kernel, name, layout, q, k, v, kv_mask)

    return attend


def _ways(axes) -> int:
    mesh = jax.sharding.get_abstract_mesh()
    return math.prod(mesh.shape[a] for a in axes)


def _fitting(axes: tuple[str, ...], size: int) -> tuple[str, ...]:
    """The longest prefix of `axes` that divides `size` (a batch of 1 is simply not split)."""
    while axes and size % _ways(axes):
        axes = axes[:-1]
    return axes


def _spec(*axes):
    return P(*(a if a else None for a in axes))


def _sharded(kernel, name, layout: Layout, q, k, v, kv_mask=None):
    batch = _fitting(layout.batch, q.shape[0])
    heads = _fitting(layout.heads, q.shape[2])
    sequence = layout.sequence
    length = q.shape[1]
    padded = -(-length // _ways(sequence)) * _ways(sequence)
    q_spec = _spec(batch, sequence, heads, None)
    is_self = k.shape[1] == length
    if is_self and layout.strategy is not None:
        kv_valid = length if padded != length else None
        local = _strategy(layout.strategy, kernel, name, sequence, kv_valid, heads)
        q, k, v = (_pad(x, padded) for x in (q, k, v))
        kv_spec = q_spec
    else:  # cross-attention or no sharded sequence: K/V whole on each device, no collective
        local = kernel
        q = _pad(q, padded)
        kv_spec = _spec(batch, None, heads, None)
    if kv_mask is not None:  # self-attention only (attend checked): sharded and padded like the keys
        mask_spec = P(*kv_spec[:2])  # (batch, sequence) of the keys
        kv_mask = jnp.pad(kv_mask, ((0, 0), (0, k.shape[1] - kv_mask.shape[1])), constant_values=False)
        masked = lambda q, k, v, m: local(q, k, v, kv_mask=m)  # noqa: E731
        out = jax.shard_map(masked, in_specs=(q_spec, kv_spec, kv_spec, mask_spec), out_specs=q_spec,
                            check_vma=False)(q, k, v, kv_mask)
        return out[:, :length]
    out = jax.shard_map(local, in_specs=(q_spec, kv_spec, kv_spec), out_specs=q_spec, check_vma=False)(q, k, v)
    return out[:, :length]


def _strategy(strategy, kernel, name, axes, kv_valid, heads):
    if strategy == "ring":
        block = BLOCKS["splash" if name in PALLAS_KERNELS else "xla"]
        return functools.partial(ring_attention, axis=axes, true_length=kv_valid, block=block)
    if strategy == "ulysses":
        return functools.partial(ulysses_attention, axis=axes, kv_valid=kv_valid, kernel=kernel)
    return functools.partial(allgather_attention, axis=axes, kv_valid=kv_valid, kernel=kernel)


def _pad(x, length):
    if x.shape[1] == length:
        return x
    return jnp.pad(x, ((0, 0), (0, length - x.shape[1]), (0, 0), (0, 0)))
