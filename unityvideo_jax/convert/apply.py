"""Load foreign tensors held in memory (e.g. a PyTorch state_dict as numpy) into a model through a
name table, checking names and shapes. Files go through torch_checkpoint.py instead."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from flax import nnx

from unityvideo_jax.convert.table import NameTable, to_ours
from unityvideo_jax.weights.tree import flatten, unflatten


def _our_params(model: nnx.Module) -> dict:
    return flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def load_tensors(model: nnx.Module, tensors: Mapping[str, np.ndarray], table: NameTable, *, allow_partial=False):
    """Set `model`'s parameters from foreign `tensors` (name -> array) through `table`.

    Every tensor the table expects must be there, and nothing else; with `allow_partial` our
    parameters the table does not cover keep their values (e.g. new layers on a Wan base).
    """
    ours = _our_params(model)
    num_layers = model.spec.num_layers
    if not allow_partial:
        table.check_covers(ours, num_layers)
    entries = list(table.entries(ours, num_layers))
    expected = [name for e in entries for name in e.names]
    missing = [name for name in expected if name not in tensors]
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (first: {', '.join(missing[:3])})")
        if extra:
            parts.append(f"{len(extra)} unexpected tensors (first: {', '.join(extra[:3])})")
        raise ValueError(
            f"checkpoint does not match the {table.format} format of this config: {'; '.join(parts)}. "
            "Check --format and --config"
        )
    new = {}
    for e in entries:
        target = ours[e.ours]
        new[e.ours] = to_ours(e, lambda n: np.asarray(tensors[n]), target.shape, np.dtype(target.dtype))
    state = nnx.state(model, nnx.Param)
    pure = nnx.to_pure_dict(state)
    flat = flatten(pure)
    flat.update(new)
    nnx.replace_by_pure_dict(state, unflatten(flat))
    nnx.update(model, state)

