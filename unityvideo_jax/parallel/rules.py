"""Parallelism presets: each one explicit table from logical axis names to mesh axes.

Parameters and activations carry logical names (model/); a preset decides which mesh axes
('data', 'fsdp', 'context', 'tensor') shard them. A name a preset does not list is replicated.

Three names describe attention's insides, and attention/context.py reads the strategy
from them (the model never does):
  activation_length    the token sequence as q, k, v arrive (the residual stream's sharding)
  attention_kv_length  K/V stay sharded inside attention and travel device to device: ring
  attention_heads      heads sharded inside attention, over the sequence's axes too: Ulysses
A sharded sequence with neither gathers K/V onto every device (fsdp_context).
"""

from __future__ import annotations

MESH_AXES = ("data", "fsdp", "context", "tensor")

_BATCH = ("data", "fsdp")
# With the sequence sharded, the context devices also hold a slice of every weight: parameters,
# gradients and optimiser state are spread over fsdp x context, as activations are.
_WEIGHTS = ("fsdp", "context")

PRESETS: dict[str, tuple[tuple[str, object], ...]] = {
    # Parameters sharded over fsdp on their model width; the batch over data x fsdp.
    "fsdp": (
        ("embed", "fsdp"),
        ("activation_batch", _BATCH),
    ),
    # As fsdp, plus Megatron-style tensor parallelism: heads and FFN width over 'tensor'.
    "fsdp_tensor": (
        ("embed", "fsdp"),
        ("heads", "tensor"),
        ("mlp", "tensor"),
        ("activation_batch", _BATCH),
        ("activation_heads", "tensor"),
    ),
    # The token sequence sharded over 'context'; attention all-gathers K/V (queries stay local).
    "fsdp_context": (
        ("embed", _WEIGHTS),
        ("heads", "tensor"),
        ("mlp", "tensor"),
        ("activation_batch", _BATCH),
        ("activation_length", "context"),
        ("activation_heads", "tensor"),
    ),
    # Sequence sharded over 'context'; attention trades it for heads with an all-to-all (DeepSpeed
    # Ulysses), attends over the whole sequence with 1/context of the heads, and trades back.
    "ulysses": (
        ("embed", _WEIGHTS),
        ("heads", "tensor"),
        ("mlp", "tensor"),
        ("activation_batch", _BATCH),
        ("activation_length", "context"),
        ("activation_heads", "tensor"),
        ("attention_heads", ("tensor", "context")),
    ),
    # Sequence sharded over 'context'; K/V blocks go round the ring and each device merges its
    # queries' partial softmaxes online (no device ever holds the whole sequence).
    "ring": (
        ("embed", _WEIGHTS),
        ("heads", "tensor"),
        ("mlp", "tensor"),
        ("activation_batch", _BATCH),
        ("activation_length", "context"),
        ("activation_heads", "tensor"),
        ("attention_kv_length", "context"),
    ),
}


# Every logical name the modules use; a preset that does not shard one replicates it (None).
LOGICAL_AXES = (
    "layers", "embed", "heads", "kv", "mlp", "modality", "vocab", "conv_in", "conv_out",
    "activation_batch", "activation_length", "activation_embed", "activation_heads",
    "attention_kv_length", "attention_heads",
)


def get_rules(preset: str) -> tuple[tuple[str, object], ...]:
    """The preset's table, completed with (name, None) for every logical name it leaves replicated."""
    if preset not in PRESETS:
        raise ValueError(f"config.parallel.preset={preset!r}: expected one of {sorted(PRESETS)}")
    table = PRESETS[preset]
    listed = {name for name, _ in table}
    return table + tuple((name, None) for name in LOGICAL_AXES if name not in listed)


def mesh_axes_of(rules, logical: str | None) -> tuple[str, ...]:
    """The mesh axes a logical name maps to under `rules` (empty: replicated)."""
    for name, axes in rules:
        if name == logical:
            return () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
    return ()
