"""Import Hugging Face safetensors checkpoints into NNX modules, driven by a name table.

A table lists, for each of our parameters, the foreign tensor name(s) and the layout that turns the
foreign tensor into ours (PyTorch Linear weights are [out, in]; our kernels are [in..., out...]).
Tensors are memory-mapped and read one at a time, so a checkpoint is never held twice in memory, and
bf16 files load without torch (numpy has no bfloat16; ml_dtypes, a jax dependency, has).
"""

import dataclasses
import json
import math
from pathlib import Path
from typing import Callable, Sequence

import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import nnx

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}  # fmt: skip


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


class SafetensorsCheckpoint:
    """Name -> memory-mapped numpy array over one `.safetensors` file or a sharded `*.index.json`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._where: dict[str, tuple[Path, int, dict]] = {}  # name -> (file, data start, entry)
        for file in self._files(self.path):
            with open(file, "rb") as f:
                size = int.from_bytes(f.read(8), "little")
                header = json.loads(f.read(size))
            for name, info in header.items():
                if name != "__metadata__":
                    self._where[name] = (file, 8 + size, info)

    @staticmethod
    def _files(path: Path) -> list[Path]:
        if path.is_dir():
            indexes = sorted(path.glob("*.safetensors.index.json"))
            singles = sorted(path.glob("*.safetensors"))
            if not indexes and not singles:
                raise FileNotFoundError(f"{path}: no *.safetensors or *.safetensors.index.json file in this directory")
            return SafetensorsCheckpoint._files(indexes[0]) if indexes else singles
        if not path.exists():
            raise FileNotFoundError(f"{path}: checkpoint not found")
        if path.name.endswith(".index.json"):
            weight_map = json.loads(path.read_text())["weight_map"]
            return [path.parent / f for f in sorted(set(weight_map.values()))]
        return [path]

    def names(self) -> list[str]:
        return list(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._where[name][2]["shape"])

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def __getitem__(self, name: str) -> np.ndarray:
        file, data_start, info = self._where[name]
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]])
        count = (end - start) // dtype.itemsize
        if count == 0:  # mmap cannot map zero bytes
            return np.zeros(info["shape"], dtype)
        array = np.memmap(file, dtype=dtype, mode="r", offset=data_start + start, shape=(count,))
        return array.reshape(info["shape"])


def _find(checkpoint: SafetensorsCheckpoint, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in checkpoint), None)


def check(checkpoint: SafetensorsCheckpoint, table: Sequence[Tensor], shapes: dict[str, tuple]) -> list[str]:
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
    path: str | Path,
    table: Sequence[Tensor],
    *,
    put: Callable[[str, np.ndarray], object] | None = None,
) -> nnx.Module:
    """Fills `model`'s parameters from the checkpoint at `path`, in place, and returns the model.

    `model` may be abstract (`nnx.eval_shape`), so a large model is never materialised at random first.
    `put(path, float32_array)` places each parameter (e.g. `jax.device_put` with the sharding its
    logical names map to on a mesh); the default is `jnp.asarray`. Raises ValueError naming the first
    missing or mis-shaped tensors before anything is loaded. Foreign tensors the table does not name
    (a pooler, BERT's position_ids buffer) are ignored.
    """
    checkpoint = SafetensorsCheckpoint(path)
    params = {".".join(map(str, p)): v for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    uncovered = sorted(set(params) - {t.path for t in table})
    if uncovered:  # a bug in the table, not in the user's file
        raise AssertionError(f"name table misses parameters {uncovered[:5]}")
    shapes = {name: tuple(v.get_value().shape) for name, v in params.items()}
    problems = check(checkpoint, table, shapes)
    if problems:
        shown = "\n  ".join(problems[:5])
        raise ValueError(
            f"{checkpoint.path}: {len(problems)} tensor(s) missing or mis-shaped for this model config; "
            f"first:\n  {shown}\n"
            "Check that the checkpoint and the config describe the same model."
        )
    put = put or (lambda _, array: jnp.asarray(array))
    values = {}
    for t in table:
        foreign = checkpoint[_find(checkpoint, t.names)]
        ours = LAYOUTS[t.layout][1](foreign, shapes[t.path]).astype(np.float32)  # fp32 master weights
        values[tuple(int(p) if p.isdigit() else p for p in t.path.split("."))] = put(t.path, ours)
    nnx.update(model, nnx.from_flat_state(values))
    return model
