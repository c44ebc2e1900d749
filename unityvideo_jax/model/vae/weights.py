"""diffusers `AutoencoderKLWan` safetensors <-> `WanVAE`, driven by one name table.

Our parameter paths mirror diffusers' module names, so the table is generated from the model:
'kernel' is PyTorch's 'weight', a resampler's conv is diffusers' `resample.1` (the conv after
the padding/upsampling op of its nn.Sequential), and each tensor has a layout that says how its
axes move. Import and export both read the table. Files are read through the package's one
safetensors reader (weights/safetensors_file.py), memory-mapped and one tensor at a time.

The original Wan checkpoints (`Wan2.1_VAE.pth`, `Wan2.2_VAE.pth`) use other names for the same
tensors and layouts; `original_name` translates a diffusers name into them (following diffusers'
own conversion of those files), so they load through the same table.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax.model.vae.autoencoder import WanVAE
from unityvideo_jax.model.vae.config import WanVAEConfig, config_from_diffusers
from unityvideo_jax.weights.safetensors_file import SafetensorsReader

_SEGMENT_RENAMES = {"kernel": "weight", "resample_conv": "resample.1"}


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one tensor moves between PyTorch's layout and ours."""

    torch_shape: Callable[[tuple[int, ...]], tuple[int, ...]]  # from our shape
    to_ours: Callable[[np.ndarray], np.ndarray]
    to_torch: Callable[[np.ndarray], np.ndarray]


LAYOUTS = {
    # Conv3d [O, I, T, H, W] <-> [T, H, W, I, O]
    "conv3d": Layout(
        lambda s: (s[4], s[3], s[0], s[1], s[2]),
        lambda w: w.transpose(2, 3, 4, 1, 0),
        lambda w: w.transpose(4, 3, 0, 1, 2),
    ),
    # Conv2d [O, I, H, W] <-> [H, W, I, O]
    "conv2d": Layout(
        lambda s: (s[3], s[2], s[0], s[1]),
        lambda w: w.transpose(2, 3, 1, 0),
        lambda w: w.transpose(3, 2, 0, 1),
    ),
    # the attention's 1x1 Conv2d [O, I, 1, 1] <-> a dense kernel [I, O]
    "conv1x1": Layout(lambda s: (s[1], s[0], 1, 1), lambda w: w[:, :, 0, 0].T, lambda w: w.T[:, :, None, None]),
    # RMS norm gammas: (C, 1, 1, 1) on video, (C, 1, 1) in the per-frame attention
    "gamma_video": Layout(lambda s: (*s, 1, 1, 1), lambda w: w.reshape(-1), lambda w: w.reshape(-1, 1, 1, 1)),
    "gamma_image": Layout(lambda s: (*s, 1, 1), lambda w: w.reshape(-1), lambda w: w.reshape(-1, 1, 1)),
    "vector": Layout(lambda s: s, lambda w: w, lambda w: w),
}


@dataclasses.dataclass(frozen=True)
class TableEntry:
    path: tuple  # our parameter path in nnx.state(vae, nnx.Param)
    name: str  # the diffusers tensor name
    layout: str  # a key of LAYOUTS
    shape: tuple[int, ...]  # our shape

    @property
    def torch_shape(self) -> tuple[int, ...]:
        return tuple(LAYOUTS[self.layout].torch_shape(self.shape))


def _layout(path: tuple, ndim: int) -> str:
    leaf = path[-1]
    if leaf == "kernel":
        return {5: "conv3d", 4: "conv2d", 2: "conv1x1"}[ndim]
    if leaf == "gamma":
        return "gamma_image" if "attentions" in path else "gamma_video"
    return "vector"


def _abstract_vae(config: WanVAEConfig) -> WanVAE:
    return nnx.eval_shape(lambda: WanVAE(config, rngs=nnx.Rngs(0)))


@functools.lru_cache(maxsize=16)
def name_table(config: WanVAEConfig) -> tuple[TableEntry, ...]:
    """Every parameter of a `WanVAE(config)` with its diffusers name and layout."""
    table = []
    for path, variable in nnx.to_flat_state(nnx.state(_abstract_vae(config), nnx.Param)):
        shape = tuple(variable.shape)
        name = ".".join(_SEGMENT_RENAMES.get(str(p), str(p)) for p in path)
        table.append(TableEntry(tuple(path), name, _layout(path, len(shape)), shape))
    return tuple(table)


def _first(items: list[str], count: int = 3) -> str:
    more = f" (and {len(items) - count} more)" if len(items) > count else ""
    return ", ".join(items[:count]) + more


def _check_diffusers_tensors(config: WanVAEConfig, tensors: Mapping[str, np.ndarray], source: str) -> None:
    """A missing, extra or mis-shaped tensor raises ValueError naming the first offenders."""
    table = name_table(config)
    expected = {entry.name: entry for entry in table}
    missing = [f"{e.name} {list(e.torch_shape)}" for e in table if e.name not in tensors]
    extra = [f"{name} {list(np.shape(tensors[name]))}" for name in tensors if name not in expected]
    misshaped = [
        f"{name} is {list(np.shape(tensors[name]))}, expected {list(expected[name].torch_shape)}"
        for name in tensors
        if name in expected and tuple(np.shape(tensors[name])) != expected[name].torch_shape
    ]
    problems = [
        f"{label} {len(items)} tensor(s): {_first(items)}"
        for label, items in (("missing", missing), ("unexpected", extra), ("mis-shaped", misshaped))
        if items
    ]
    if problems:
        raise ValueError(
            f"{source} do not fit a WanVAE with base_dim={config.base_dim}, z_dim={config.z_dim}, "
            f"is_residual={config.is_residual}: " + "; ".join(problems) + ". Check that the weights are "
            "a diffusers AutoencoderKLWan of this variant, or pass the config that matches them."
        )


def _to_ours(entry: TableEntry, tensor: np.ndarray) -> np.ndarray:
    """One diffusers tensor as a fresh fp32 array in our layout (never a view of a file's mapping)."""
    return np.array(LAYOUTS[entry.layout].to_ours(np.asarray(tensor).astype(np.float32, copy=False)), np.float32)


def import_diffusers_state(
    config: WanVAEConfig, tensors: Mapping[str, np.ndarray], source: str = "the weights"
) -> dict[tuple, np.ndarray]:
    """diffusers tensors -> {our parameter path: fp32 array in our layout}; a missing, extra or
    mis-shaped tensor raises ValueError naming the first offenders and what was expected."""
    _check_diffusers_tensors(config, tensors, source)
    return {e.path: _to_ours(e, tensors[e.name]) for e in name_table(config)}


def export_diffusers_state(vae: WanVAE) -> dict[str, np.ndarray]:
    """Our parameters as diffusers `AutoencoderKLWan` tensors (fp32, PyTorch layouts)."""
    params = dict(nnx.to_flat_state(nnx.state(vae, nnx.Param)))
    return {
        e.name: np.array(LAYOUTS[e.layout].to_torch(np.asarray(params[e.path][...])), np.float32, order="C")
        for e in name_table(vae.config)
    }


def vae_from_diffusers_tensors(
    config: WanVAEConfig, tensors: Mapping[str, np.ndarray], source: str = "the weights"
) -> WanVAE:
    """A `WanVAE(config)` holding diffusers tensors: a PyTorch state_dict as numpy, or a
    `SafetensorsReader`, whose tensors are then read one at a time."""
    _check_diffusers_tensors(config, tensors, source)
    vae = _abstract_vae(config)
    state = nnx.state(vae, nnx.Param)
    variables = dict(nnx.to_flat_state(state))
    for entry in name_table(config):
        variables[entry.path].set_value(jnp.asarray(_to_ours(entry, tensors[entry.name])))
        if isinstance(tensors, SafetensorsReader):  # copied out: hand the file's pages back
            tensors.release(entry.name)
    nnx.update(vae, state)
    return vae


def load_diffusers_vae(path: str | Path, *, config: WanVAEConfig | None = None, dtype: str | None = None) -> WanVAE:
    """A `WanVAE` with the weights of a diffusers `AutoencoderKLWan` folder, file or sharded index.

    Without `config`, the config.json beside the weights is read. `dtype` sets the compute dtype.
    """
    path = Path(path)
    with SafetensorsReader(path) as reader:  # a missing, pickled or corrupt file is named here, unread
        if config is None:
            config_file = (path if path.is_dir() else path.parent) / "config.json"
            if not config_file.exists():
                raise ValueError(f"no config.json beside {path}; pass config=get_vae_config('wan21' or 'wan22')")
            config = config_from_diffusers(json.loads(config_file.read_text()))
        if dtype is not None:
            config = dataclasses.replace(config, dtype=dtype)
        return vae_from_diffusers_tensors(config, reader, source=f"the weights at {path}")


# The original Wan VAE names (wan/modules/vae2_1.py, vae2_2.py), as diffusers converts them.
_ORIGINAL_RESNET_PARTS = {
    "norm1": "residual.0",
    "conv1": "residual.2",
    "norm2": "residual.3",
    "conv2": "residual.6",
    "conv_shortcut": "shortcut",
}
_ORIGINAL_MIDDLE = {("resnets", "0"): "middle.0", ("attentions", "0"): "middle.1", ("resnets", "1"): "middle.2"}
_ORIGINAL_ENDS = {"conv_in": "conv1", "norm_out": "head.0", "conv_out": "head.2"}
_ORIGINAL_TOP = {"quant_conv": "conv1", "post_quant_conv": "conv2"}


def _original_layer(tail: list[str]) -> str:
    """Inside a residual block ('conv1.weight' -> 'residual.2.weight'); resamplers keep their names."""
    return ".".join([_ORIGINAL_RESNET_PARTS.get(tail[0], tail[0]), *tail[1:]])


def _original_stage_layer(parts: list[str], config: WanVAEConfig) -> str:
    """A layer of an encoder/decoder stage: 'down_blocks.1.resnets.0.conv1.weight' and the like."""
    kind, stage, rest = parts[0], int(parts[1]), parts[2:]
    flat = "downsamples" if kind == "down_blocks" else "upsamples"
    if kind == "down_blocks" and not config.is_residual:  # Wan2.1's encoder stages are already flat
        return f"{flat}.{stage}.{_original_layer(rest)}"
    resnets = config.num_res_blocks + (kind == "up_blocks")
    if rest[0] == "resnets":
        index, rest = int(rest[1]), rest[2:]
    else:  # 'downsampler.*', 'upsampler.*', Wan2.1's 'upsamplers.0.*': the layer after the resnets
        index, rest = resnets, rest[2:] if rest[0] == "upsamplers" else rest[1:]
    if config.is_residual:
        return f"{flat}.{stage}.{flat}.{index}.{_original_layer(rest)}"
    return f"{flat}.{stage * (resnets + 1) + index}.{_original_layer(rest)}"  # Wan2.1 decoder: one flat list


def original_name(name: str, config: WanVAEConfig) -> str:
    """The original Wan checkpoint's name of diffusers tensor `name`."""
    parts = name.split(".")
    if parts[0] in _ORIGINAL_TOP:
        return ".".join([_ORIGINAL_TOP[parts[0]], *parts[1:]])
    coder, layer = parts[0], parts[1:]
    if layer[0] in _ORIGINAL_ENDS:
        return ".".join([coder, _ORIGINAL_ENDS[layer[0]], *layer[1:]])
    if layer[0] == "mid_block":
        return ".".join([coder, _ORIGINAL_MIDDLE[tuple(layer[1:3])], _original_layer(layer[3:])])
    return f"{coder}.{_original_stage_layer(layer, config)}"


def load_original_vae(path: str | Path, config: WanVAEConfig, *, dtype: str | None = None) -> WanVAE:
    """A `WanVAE` from an original Wan VAE checkpoint (`Wan2.1_VAE.pth` with config
    get_vae_config('wan21'), `Wan2.2_VAE.pth` with 'wan22'), read with torch.load(weights_only=True)."""
    import torch  # noqa: PLC0415  (only this format needs torch)

    if dtype is not None:
        config = dataclasses.replace(config, dtype=dtype)
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    to_diffusers = {original_name(entry.name, config): entry.name for entry in name_table(config)}
    tensors = {to_diffusers.get(key, key): value.float().numpy() for key, value in checkpoint.items()}
    return vae_from_diffusers_tensors(config, tensors, source=f"the original Wan VAE weights at {path}")
