"""PyTorch-format safetensors <-> a `UnityDiT`, through one name table per format.

    model = load_torch_checkpoint("unityvideo_5b.safetensors", get_config("wan22_ti2v_5b_release"))
    save_torch_checkpoint(model, config, "out.safetensors", format="release", dtype="bfloat16")

Import checks every name and shape from the headers before reading a byte, then builds each of
our parameters in one preallocated buffer (a stacked one layer by layer) straight from zero-copy
views of the file, casting on the way, and hands it to JAX (zero-copy on a CPU host) or builds
just each device's shard when shardings are given. Nothing is allocated for the random init the
model would otherwise get: the model is abstract until the weights arrive.
"""

from __future__ import annotations

import dataclasses
import json
import math
from functools import partial
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax.convert import diffusers, new_parts, release
from unityvideo_jax.convert.table import (
    LAYOUTS,
    Entry,
    NameTable,
    copy_into,
    expected_tensors,
    theirs_shape,
)
from unityvideo_jax.model.dit.spec import DiTSpec, from_config
from unityvideo_jax.model.dit.transformer import UnityDiT
from unityvideo_jax.storage.paths import as_path
from unityvideo_jax.weights.safetensors_file import DTYPES, SafetensorsReader, write_safetensors
from unityvideo_jax.weights.tree import flatten, unflatten

FORMATS = ("release", "diffusers")
# the config's spelling (config.model.compute_dtype) and the short one PyTorch users type
EXPORT_DTYPES = {"bfloat16": DTYPES["BF16"], "float32": DTYPES["F32"], "bf16": DTYPES["BF16"], "fp32": DTYPES["F32"]}
_FLOAT_CODES = {DTYPES[c] for c in ("F16", "BF16", "F32", "F64")}
_SHOWN = 3  # offending tensors named in an error
_ALIGN = 64


def model_config_of(config):
    """`config.model` for a full config, the argument itself for a model config (or a DiTSpec)."""
    try:
        return config["model"]
    except (KeyError, TypeError):
        return config


def table_for(format: str, spec: DiTSpec) -> NameTable:
    if format == "release":
        return release.table_for(spec)
    if format == "diffusers":
        return diffusers.TABLE
    raise ValueError(f"unknown checkpoint format {format!r}: expected one of {', '.join(FORMATS)}")


def abstract_model(config) -> UnityDiT:
    """The model of `config` with shapes and dtypes only (no memory)."""
    model_config = model_config_of(config)
    return nnx.eval_shape(lambda: UnityDiT(model_config, rngs=nnx.Rngs(0)))


def load_torch_checkpoint(path, config, *, format: str | None = None, shardings=None, dtype=None) -> UnityDiT:
    """A `UnityDiT` of `config` holding the weights of a PyTorch safetensors checkpoint.

    path: a .safetensors file, a sharded *.index.json, or a folder holding one (e.g. a diffusers
    `save_pretrained` folder). format: "release" or "diffusers"; None guesses from the names.
    A diffusers Wan base loaded into a two-stream config gets its new parts as the release
    started them (see new_parts.py). shardings: None (default device) or, per parameter, a
    `jax.sharding.Sharding` (an nnx.State, nested or dotted-path dict, as from
    `parallel.sharding.state_shardings`); each device then receives only its shard. dtype: None keeps
    the config's parameter dtype (fp32); e.g. "bfloat16" stores every floating parameter so (inference
    on one chip: the 5B release's bf16 file stays 10 GB), converted on the host, tensor by tensor.
    """
    spec = from_config(model_config_of(config))
    graphdef, state = nnx.split(abstract_model(config))
    ours = flatten(nnx.to_pure_dict(state))
    targets = _flat_shardings(shardings, ours)
    with SafetensorsReader(path) as reader:
        format = format or _guess_format(reader.names())
        table = table_for(format, spec)
        entries = {e.ours: e for e in table.entries(ours, spec.num_layers)}
        _check_tensors(reader, table, ours, spec, format, path)
        builds = {}
        for key, leaf in ours.items():
            if key in entries:
                builds[key] = partial(_build, reader, entries[key], leaf.shape, leaf.dtype)
            elif format == "diffusers" and new_parts.is_new_part(key):
                builds[key] = _new_part_build(reader, entries, ours, key)
            else:
                raise ValueError(
                    f"the {format} format has no tensor for our parameter {key}: this config's flavour cannot "
                    "start from such a checkpoint; use a release-flavour config or the release format"
                )
        want = (lambda d: jnp.dtype(dtype) if dtype is not None and jnp.issubdtype(d, jnp.floating) else d)  # noqa: E731
        values = {key: _place(leaf.shape, want(leaf.dtype), targets.get(key), _cast(builds[key], want(leaf.dtype)))
                  for key, leaf in ours.items()}
    nnx.replace_by_pure_dict(state, unflatten(values))
    return nnx.merge(graphdef, state)


def save_torch_checkpoint(model_or_params, config, path, *, format: str = "release", dtype: str = "bfloat16"):
    """Write the model's weights as a PyTorch safetensors file of `format`, atomically.

    "release" covers every parameter (an error if one has no name); "diffusers" writes the RGB
    backbone a `WanTransformer3DModel` loads. The file's metadata holds the model config.
    """
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"unknown export dtype {dtype!r}: expected one of {', '.join(EXPORT_DTYPES)}")
    model_config = model_config_of(config)
    spec = from_config(model_config)
    params = _flat_params(model_or_params)
    table = table_for(format, spec)
    if format == "release":
        table.check_covers(params, spec.num_layers)
    out_dtype = EXPORT_DTYPES[dtype]
    where: dict[str, tuple[Entry, int]] = {}
    specs = {}
    for e in table.entries(params, spec.num_layers):
        shape = tuple(params[e.ours].shape)
        one = theirs_shape(e.layout, shape[1:] if e.stacked else shape)
        for k, name in enumerate(e.names):
            where[name] = (e, k)
            specs[name] = (one, out_dtype)

    buffers: dict[tuple, np.ndarray] = {}  # one per shape: the writer is done with a tensor before the next

    def produce(name: str) -> np.ndarray:
        entry, k = where[name]
        value = np.asarray(params[entry.ours])  # zero-copy for a CPU jax array
        shape = specs[name][0]
        if shape not in buffers:
            buffers[shape] = np.empty(shape, out_dtype)
        out = buffers[shape]
        copy_into(out, value[k] if entry.stacked else value, entry.layout, to="theirs")
        return out

    metadata = {"format": "pt", "unityvideo_format": format, "unityvideo_model": _model_json(model_config)}
    write_safetensors(path, specs, produce, metadata)
    return as_path(path)


def _model_json(model_config) -> str:
    values = dataclasses.asdict(from_config(model_config))
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}, sort_keys=True)


def _flat_params(model_or_params) -> dict:
    if isinstance(model_or_params, nnx.Module):
        return flatten(nnx.to_pure_dict(nnx.state(model_or_params, nnx.Param)))
    if isinstance(model_or_params, nnx.State):
        return flatten(nnx.to_pure_dict(model_or_params))
    return flatten(model_or_params)


def _flat_shardings(shardings, ours: Mapping) -> dict:
    if shardings is None:
        return {}
    if isinstance(shardings, nnx.State):
        shardings = nnx.to_pure_dict(shardings)
    flat = flatten(shardings) if any(isinstance(v, Mapping) for v in shardings.values()) else dict(shardings)
    unknown = sorted(set(flat) - set(ours))
    if unknown or not all(isinstance(s, jax.sharding.Sharding) for s in flat.values()):
        raise ValueError(
            f"shardings must map our parameter paths to jax Shardings (unknown paths: {unknown[:_SHOWN]}); "
            "build them with unityvideo_jax.parallel.sharding.state_shardings"
        )
    return flat


def _guess_format(names) -> str:
    return "release" if any(n.startswith("base.") for n in names) else "diffusers"


def _check_tensors(reader: SafetensorsReader, table: NameTable, ours: Mapping, spec: DiTSpec, format: str, path):
    """Every expected name with its shape and a float dtype, and nothing else; else one ValueError."""
    expected = expected_tensors(table, {k: v.shape for k, v in ours.items()}, spec.num_layers)
    found = {name: reader.shape(name) for name in reader.names()}
    missing = [f"{n} {list(s)}" for n, s in expected.items() if n not in found]
    extra = sorted(f"{n} {list(s)}" for n, s in found.items() if n not in expected)
    wrong = [
        f"{n} is {list(found[n])}, expected {list(s)}" for n, s in expected.items() if n in found and found[n] != s
    ]
    wrong += [f"{n} is {reader.dtype(n)}, expected a float type" for n in expected if n in found
              and reader.dtype(n) not in _FLOAT_CODES]
    problems = [
        f"{label} {len(items)} tensor(s): {', '.join(items[:_SHOWN])}"
        + (f" (and {len(items) - _SHOWN} more)" if len(items) > _SHOWN else "")
        for label, items in (("missing", missing), ("unexpected", extra), ("wrong", wrong))
        if items
    ]
    if problems:
        guessed = _guess_format(found)
        hint = (
            f" It looks like a {guessed} checkpoint: pass --format {guessed}." if guessed != format and found
            else " Is it a checkpoint of another model? Pass the config it was trained with (--config)."
        )
        raise ValueError(f"{path} does not fit the {format} format of this config: {'; '.join(problems)}.{hint}")


def _full(index, shape) -> bool:
    return all(s.indices(n) == (0, n, 1) for s, n in zip(index, shape))


def _normalise(index, shape) -> tuple:
    index = tuple(index) if index is not None else ()
    return index + (slice(None),) * (len(shape) - len(index))


def _block_shape(index, shape) -> tuple[int, ...]:
    return tuple(len(range(*s.indices(n))) for s, n in zip(index, shape))


def _build(reader: SafetensorsReader, entry: Entry, shape, dtype, index=None) -> np.ndarray:
    """Our parameter (or the block `index` of it) from the file, in one buffer."""
    index = _normalise(index, shape)
    out = _aligned_empty(_block_shape(index, shape), dtype)
    if entry.stacked:
        layers = range(*index[0].indices(shape[0]))
        for j, k in enumerate(layers):
            _fill(out[j], reader, entry.names[k], entry.layout, index[1:], shape[1:])
    else:
        _fill(out, reader, entry.names[0], entry.layout, index, shape)
    return out


def _fill(dst: np.ndarray, reader: SafetensorsReader, name: str, layout: str, index, shape) -> None:
    src = reader.view(name)
    if _full(index, shape):
        copy_into(dst, src, layout)
    else:
        dst[...] = LAYOUTS[layout][0](src)[index]
    del src
    reader.release(name)


def _new_part_build(reader, entries, ours, key) -> Callable:
    shape, dtype = ours[key].shape, ours[key].dtype
    if key in new_parts.ZEROS:
        return lambda index=None: _aligned_empty(_block_shape(_normalise(index, shape), shape), dtype, fill=0)
    source = new_parts.COPIES[key]

    def build(index=None):
        whole = _build(reader, entries[source], ours[source].shape, dtype)
        block = np.broadcast_to(whole, shape)[_normalise(index, shape)]
        out = _aligned_empty(block.shape, dtype)
        out[...] = block
        return out

    return build


def _aligned_empty(shape, dtype, fill=None) -> np.ndarray:
    """An uninitialised array at a 64-byte aligned address: JAX's CPU backend adopts such a buffer
    as is, while a merely malloc-aligned one (16 bytes) is copied, doubling a 2.6 GB parameter."""
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    raw = np.empty(size + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    out = raw[start : start + size].view(dtype).reshape(shape)
    if fill is not None:
        out.fill(fill)
    return out


def _cast(build: Callable, dtype) -> Callable:
    """`build` whose array is in `dtype` (a no-op where it already is)."""
    def cast(*index):
        array = build(*index)
        return array if array.dtype == dtype else array.astype(dtype)

    return cast


def _place(shape, dtype, sharding, build: Callable) -> jax.Array:
    if sharding is None:
        return jax.device_put(build())
    return jax.make_array_from_callback(tuple(shape), sharding, build, dtype=dtype)
