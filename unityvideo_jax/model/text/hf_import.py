"""Import Hugging Face safetensors checkpoints into NNX modules, driven by a name table.

A table lists, for each of our parameters, the foreign tensor name(s) and the layout that turns the
foreign tensor into ours (PyTorch Linear weights are [out, in]; our kernels are [in..., out...]).
Files are read through the package's one reader (weights/safetensors_file.py): memory-mapped, one
tensor at a time, so a checkpoint is never held twice in memory, and bf16 without torch.
"""

import contextlib
import dataclasses
import math
from pathlib import Path
from typing import Callable, Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax.weights.safetensors_file import SafetensorsReader


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One parameter: our dotted path, the foreign names to try in order, and the layout between them."""

    path: str
    names: tuple[str, ...]
    layout: str = "same"


def _linear(n_in: int):
    # Foreign [out, in] -> our kernel whose first n_in axes are the inputs.
    def foreign_shape(shape):
        return (math.prod(shape[n_in:]), math.prod(shape[:n_in]))

    return foreign_shape, lambda array, shape: array.T.reshape(shape)


LAYOUTS: dict[str, tuple[Callable, Callable]] = {
    "same": (lambda shape: tuple(shape), lambda array, shape: array),
    "flat": (lambda shape: (math.prod(shape),), lambda array, shape: array.reshape(shape)),
    "linear1": _linear(1),
    "linear2": _linear(2),
}


def _find(checkpoint: SafetensorsReader, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in checkpoint), None)


def check(checkpoint: SafetensorsReader, table: Sequence[Tensor], shapes: dict[str, tuple]) -> list[str]:
    """Problems (missing or mis-shaped tensors), in table order."""
    problems = []
    for t in table:
        name = _find(checkpoint, t.names)
        expected = LAYOUTS[t.layout][0](shapes[t.path])
        if name is None:
            problems.append(f"missing {' or '.join(t.names)} (for {t.path}, expected shape {expected})")
        elif checkpoint.shape(name) != expected:
            problems.append(f"{name} has shape {checkpoint.shape(name)}, expected {expected} (for {t.path})")
    return problems


def import_weights(
    model: nnx.Module,
    path,
    table: Sequence[Tensor],
    *,
    put: Callable[[str, np.ndarray], object] | None = None,
) -> nnx.Module:
    """Fills `model`'s parameters from the checkpoint at `path`, in place, and returns the model.
    `path` is a safetensors file, index or folder, or an open reader with the same interface
    (weights/torch_state.py reads a PyTorch .pth so).

    `model` may be abstract (`nnx.eval_shape`), so a large model is never materialised at random first.
    `put(path, float32_array)` places each parameter (e.g. `jax.device_put` with the sharding its
    logical names map to on a mesh); the default is `jnp.asarray`. Raises ValueError naming the first
    missing or mis-shaped tensors before anything is loaded. Foreign tensors the table does not name
    (a pooler, BERT's position_ids buffer) are ignored.
    """
    params = {".".join(map(str, p)): v for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    uncovered = sorted(set(params) - {t.path for t in table})
    if uncovered:  # a bug in the table, not in the user's file
        raise AssertionError(f"name table misses parameters {uncovered[:5]}")
    shapes = {name: tuple(v.get_value().shape) for name, v in params.items()}
    put = put or (lambda _, array: jnp.asarray(array))
    values = {}
    opened = SafetensorsReader(path) if isinstance(path, (str, Path)) else contextlib.nullcontext(path)
    with opened as checkpoint:
        problems = check(checkpoint, table, shapes)
        if problems:
            shown = "\n  ".join(problems[:5])
            raise ValueError(
                f"{checkpoint.path}: {len(problems)} tensor(s) missing or mis-shaped for this model config; "
                f"first:\n  {shown}\n"
                "Check that the checkpoint and the config describe the same model."
            )
        for t in table:
            name = _find(checkpoint, t.names)
            # astype copies out of the mapping (fp32 master weights), so the pages can go back at once
            ours = LAYOUTS[t.layout][1](checkpoint.view(name), shapes[t.path]).astype(np.float32)
            checkpoint.release(name)
            values[tuple(int(p) if p.isdigit() else p for p in t.path.split("."))] = put(t.path, ours)
    nnx.update(model, nnx.from_flat_state(values))
    return model
