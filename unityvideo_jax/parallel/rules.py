"""Parallelism presets: each one explicit table from logical axis names to mesh axes.

Parameters and activations carry logical names (model/); a preset decides which mesh axes
('data', 'fsdp', 'context', 'tensor') shard them. A name a preset does not list is replicated.
"""

from __future__ import annotations

MESH_AXES = ("data", "fsdp", "context", "tensor")

_BATCH = ("data", "fsdp")

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
    ),
    # As fsdp, plus the token sequence sharded over 'context' (K/V all-gathered by XLA).
    "fsdp_context": (
        ("embed", "fsdp"),
        ("activation_batch", _BATCH),
        ("activation_length", "context"),
    ),
}


# Every logical name the modules use; a preset that does not shard one replicates it (None).
LOGICAL_AXES = (
    "layers", "embed", "heads", "kv", "mlp", "modality", "vocab", "conv_in", "conv_out",
    "activation_batch", "activation_length", "activation_embed",
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
