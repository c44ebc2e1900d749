"""Name tables: one per foreign checkpoint format, read by both import and export.

A `Rule` pairs one of our parameters (a dotted path in the model's parameter tree) with a
foreign tensor name and a layout. A foreign name with `{i}` is one tensor per layer, stacked on
our leading 'layers' axis; with `{m}` one per modality (by release name), stacked on our
'modality' axis. Layouts convert PyTorch layouts to ours and back (both exact: pure transposes).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Mapping

import numpy as np

from unityvideo_jax import modalities

# (to ours, to theirs)
LAYOUTS: dict[str, tuple[Callable, Callable]] = {
    "same": (lambda a: a, lambda a: a),
    # Linear: PyTorch [out, in] -> ours [in, out]
    "linear": (lambda a: a.T, lambda a: a.T),
    # Conv3d: PyTorch [O, I, T, H, W] -> ours [T, H, W, I, O]
    "conv3d": (lambda a: a.transpose(2, 3, 4, 1, 0), lambda a: a.transpose(4, 3, 0, 1, 2)),
}


@dataclasses.dataclass(frozen=True)
class Rule:
    ours: str
    theirs: str
    layout: str = "same"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One of our parameters and the foreign tensors it is made of (several when stacked)."""

    ours: str
    names: tuple[str, ...]
    layout: str
    stacked: bool


@dataclasses.dataclass(frozen=True)
class NameTable:
    format: str
    rules: tuple[Rule, ...]

    def entries(self, our_paths, num_layers: int) -> Iterator[Entry]:
        """The entries for the parameters a model has (`our_paths`); rules for absent ones are skipped."""
        present = set(our_paths)
        for rule in self.rules:
            if rule.ours not in present:
                continue
            if "{i}" in rule.theirs:
                names = tuple(rule.theirs.format(i=i) for i in range(num_layers))
            elif "{m}" in rule.theirs:
                names = tuple(rule.theirs.format(m=m.release_name) for m in modalities.MODALITIES)
            else:
                names = (rule.theirs,)
            yield Entry(rule.ours, names, rule.layout, stacked=len(names) > 1 or "{" in rule.theirs)

    def check_covers(self, our_paths, num_layers: int) -> None:
        """Every parameter of the model must have a rule, else export would drop it silently."""
        covered = {e.ours for e in self.entries(our_paths, num_layers)}
        missing = sorted(set(our_paths) - covered)
        if missing:
            raise ValueError(f"the {self.format} format has no tensor for our parameters {missing[:5]}")


def to_theirs(entry: Entry, value: np.ndarray) -> dict[str, np.ndarray]:
    """Our parameter -> its foreign tensors (split along the stacked axis)."""
    convert = LAYOUTS[entry.layout][1]
    if not entry.stacked:
        return {entry.names[0]: np.ascontiguousarray(convert(value))}
    return {name: np.ascontiguousarray(convert(value[k])) for k, name in enumerate(entry.names)}


def to_ours(entry: Entry, read: Callable[[str], np.ndarray], shape, dtype) -> np.ndarray:
    """Foreign tensors -> our parameter, written into one preallocated buffer (no stacking copies)."""
    convert = LAYOUTS[entry.layout][0]
    if not entry.stacked:
        return _checked(entry.names[0], convert(read(entry.names[0])), shape, dtype, entry)
    out = np.empty(shape, dtype)
    for k, name in enumerate(entry.names):
        out[k] = _checked(name, convert(read(name)), shape[1:], dtype, entry)
    return out


def _checked(name, value, shape, dtype, entry) -> np.ndarray:
    if tuple(value.shape) != tuple(shape):
        layout = LAYOUTS[entry.layout][1]
        expected = tuple(layout(np.empty(shape, np.int8)).shape)
        raise ValueError(
            f"tensor {name} has shape {tuple(_theirs_shape(value, entry))}, expected {expected} for our "
            f"{entry.ours}: is this checkpoint for another model size? check --config"
        )
    return value.astype(dtype, copy=False)


def _theirs_shape(value, entry):
    return LAYOUTS[entry.layout][1](value).shape


def flatten(tree: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested dict -> {"a.b.c": leaf}."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def unflatten(flat: Mapping[str, object]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree
