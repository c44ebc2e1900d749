"""Refuse layouts the mesh cannot hold, saying which config value to change."""

from __future__ import annotations

import math

from flax import nnx
from jax.sharding import Mesh

from unityvideo_jax.latents.shapes import token_grid
from unityvideo_jax.parallel.rules import get_rules, mesh_axes_of


def _ways(mesh: Mesh, axes) -> int:
    return math.prod(mesh.shape[a] for a in axes)


def validate(config, mesh: Mesh) -> None:
    """Check `config` against `mesh` under `config.parallel.preset`; ValueError on the first problem."""
    preset = config.parallel.preset
    rules = get_rules(preset)
    model = config.model
    checks = (
        ("heads", model.num_heads, "config.model.num_heads"),
        ("mlp", model.ffn_dim, "config.model.ffn_dim"),
        ("embed", model.dim, "config.model.dim"),
        ("attention_heads", model.num_heads, "config.model.num_heads"),  # Ulysses: heads over the sequence axes
        ("activation_batch", config.data.global_batch, "config.data.global_batch"),
    )
    for logical, size, key in checks:
        axes = mesh_axes_of(rules, logical)
        ways = _ways(mesh, axes)
        if size % ways:
            hint = ""
            if logical == "activation_batch":  # a resume on another slice keeps its batch: say what would fit
                hint = (f" (a global batch of {nearest_multiples(size, ways)} would split; {divisors(size)} "
                        f"are the data-parallel sizes {size} splits into)")
            raise ValueError(
                f"{key}={size} cannot be split {ways} ways over mesh axes {axes} (preset {preset!r}): "
                f"choose mesh sizes whose product divides {size}, or another preset{hint}"
            )
    _check_sequence(config, mesh, rules)


def divisors(size: int) -> list[int]:
    """The ways `size` splits evenly (1 and itself included)."""
    return [d for d in range(1, size + 1) if size % d == 0]


def nearest_multiples(size: int, ways: int) -> str:
    """The multiples of `ways` next to `size`, e.g. "8 or 12" for 10 split 4 ways."""
    below, above = (size // ways) * ways, (size // ways + 1) * ways
    return f"{below} or {above}" if below else str(above)


def _check_sequence(config, mesh: Mesh, rules) -> None:
    """The context axis splits each latent frame's tokens; it may not outnumber them.

    A joint sequence the context axis does not divide is fine: attention pads it and masks the
    padded keys. But a device with no tokens of a frame at all is a layout mistake.
    """
    axes = mesh_axes_of(rules, "activation_length")
    ways = _ways(mesh, axes)
    if ways == 1:
        return
    frames, height, width = token_grid(config)
    if height * width < ways:
        raise ValueError(
            f"the context axes {axes} split each latent frame's {height * width} tokens ({height}x{width}) "
            f"{ways} ways: lower config.parallel.context to at most {height * width} or use larger videos"
        )


def check_divisible(state, mesh: Mesh, rules) -> None:
    """Every sharded parameter dimension must divide by its mesh axes' total size."""
    flat = nnx.to_flat_state(state)
    for path, var in flat:
        names = var.get_metadata().get("out_sharding") or ()
        for dim, logical in zip(var.shape, names):
            axes = mesh_axes_of(rules, logical)
            ways = _ways(mesh, axes)
            if dim % ways:
                where = ".".join(str(p) for p in path)
                raise ValueError(
                    f"parameter {where} has a dimension of {dim} ({logical!r}) that cannot be split {ways} "
                    f"ways over mesh axes {axes}: change the model width or the mesh sizes"
                )
