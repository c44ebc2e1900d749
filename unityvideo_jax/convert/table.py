"""Name tables: one per foreign checkpoint format, read by both import and export.

A `Rule` pairs one of our parameters (a dotted path in the model's parameter tree) with a
foreign tensor name and a layout. A foreign name with `{i}` is one tensor per layer, stacked on
our leading 'layers' axis; with `{m}` one per modality (by release name), stacked on our
'modality' axis; with `{row}` one per row of the AdaLN switcher table ("rgb", then the
modalities). Layouts convert PyTorch layouts to ours and back (both exact: transposes and
reshapes, never arithmetic).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Mapping

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.weights import fast_copy

# (to ours, to theirs)
LAYOUTS: dict[str, tuple[Callable, Callable]] = {
    "same": (lambda a: a, lambda a: a),
    # Linear: PyTorch [out, in] -> ours [in, out]
    "linear": (lambda a: a.T, lambda a: a.T),
    # Conv3d: PyTorch [O, I, T, H, W] -> ours [T, H, W, I, O]
    "conv3d": (lambda a: a.transpose(2, 3, 4, 1, 0), lambda a: a.transpose(4, 3, 0, 1, 2)),
    # one slice of a stacked (2, dim) head table <-> PyTorch's (1, 2, dim) modulation
    "unsqueeze": (lambda a: a[0], lambda a: a[None]),
}

# The axis permutation of each transposing layout (ours = theirs.transpose(perm)). Those that
# fast_copy does not tile (the conv3d patch embeddings) copy in slabs along the source's axis 0 so
# reads stay contiguous: a transposed copy of a whole tensor is several times slower.
PERMUTATIONS = {"same": None, "linear": (1, 0), "conv3d": (2, 3, 4, 1, 0)}
_SLAB_BYTES = 1 << 20

# What each placeholder of a foreign name expands to (num_layers -> names).
PLACEHOLDERS: dict[str, Callable[[int], tuple[str, ...]]] = {
    "i": lambda layers: tuple(str(i) for i in range(layers)),
    "m": lambda layers: tuple(m.release_name for m in modalities.MODALITIES),
    "row": lambda layers: ("rgb",) + tuple(m.release_name for m in modalities.MODALITIES),
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
            key = next((k for k in PLACEHOLDERS if f"{{{k}}}" in rule.theirs), None)
            if key is None:
                names = (rule.theirs,)
            else:
                names = tuple(rule.theirs.format(**{key: v}) for v in PLACEHOLDERS[key](num_layers))
            yield Entry(rule.ours, names, rule.layout, stacked=key is not None)

    def check_covers(self, our_paths, num_layers: int) -> None:
        """Every parameter of the model must have a rule, else export would drop it silently."""
        covered = {e.ours for e in self.entries(our_paths, num_layers)}
        missing = sorted(set(our_paths) - covered)
        if missing:
            raise ValueError(f"the {self.format} format has no tensor for our parameters {missing[:5]}")


def theirs_shape(layout: str, our_shape) -> tuple[int, ...]:
    """The foreign shape of one (unstacked) tensor of our shape, computed without allocating."""
    return tuple(LAYOUTS[layout][1](np.broadcast_to(np.int8(0), tuple(our_shape))).shape)


def expected_tensors(table: NameTable, our_shapes: Mapping[str, tuple], num_layers: int) -> dict[str, tuple]:
    """Foreign name -> foreign shape of every tensor `table` makes from parameters of `our_shapes`."""
    out = {}
    for e in table.entries(our_shapes, num_layers):
        shape = tuple(our_shapes[e.ours])
        one = theirs_shape(e.layout, shape[1:] if e.stacked else shape)
        out.update({name: one for name in e.names})
    return out


def copy_into(dst: np.ndarray, src: np.ndarray, layout: str, to: str = "ours") -> None:
    """Write `src` into `dst` in the other layout (`to` = "ours" or "theirs"), casting on the way.

    Both are whole tensors of one layer. Linear transposes and plain copies go through fast_copy
    (cache-sized tiles over a thread pool); other permutations slab by slab along `src`'s axis 0.
    """
    convert = LAYOUTS[layout][0 if to == "ours" else 1]
    if layout == "linear" and src.ndim == 2:
        fast_copy.transpose_into(dst, src)
        return
    if layout == "same" and dst.shape == src.shape:
        fast_copy.copy_into(dst, src)
        return
    if layout not in PERMUTATIONS or src.ndim == 0:
        dst[...] = convert(src)
        return
    perm = PERMUTATIONS[layout] or tuple(range(src.ndim))
    if to == "theirs":
        perm = tuple(int(a) for a in np.argsort(perm))
    axis = perm.index(0)  # where src's axis 0 lands in dst
    rows = max(1, _SLAB_BYTES // max(1, src[:1].nbytes))
    index = [slice(None)] * dst.ndim
    for start in range(0, src.shape[0], rows):
        index[axis] = slice(start, start + rows)
        dst[tuple(index)] = convert(src[start : start + rows])


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
        expected = theirs_shape(entry.layout, shape)
        raise ValueError(
            f"tensor {name} has shape {tuple(_theirs_shape(value, entry))}, expected {expected} for our "
            f"{entry.ours}: is this checkpoint for another model size? check --config"
        )
    return value.astype(dtype, copy=False)


def _theirs_shape(value, entry):
    return LAYOUTS[entry.layout][1](value).shape
