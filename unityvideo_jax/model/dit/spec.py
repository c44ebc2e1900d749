"""`DiTSpec`: the frozen, hashable view of `config.model` the modules are built from.

A ConfigDict is mutable and unhashable, so modules keep this instead (it ends up in the NNX
graph definition, which jit hashes). `from_config` is also where a model config is validated.
"""

from __future__ import annotations

import dataclasses

from unityvideo_jax.dtypes import DTYPES

CHOICES = {
    "switcher": ("adaln", "token", "none"),  # none: no modality identity at all (an ablation)
    "aux_input": ("shared", "copy_plus_zero_linear"),
    "aux_head": ("per_modality", "shared"),
    "adaln_timestep": ("per_stream", "shared"),
}


@dataclasses.dataclass(frozen=True)
class DiTSpec:
    dim: int
    ffn_dim: int
    num_heads: int
    num_layers: int
    in_channels: int
    out_channels: int
    text_dim: int
    freq_dim: int
    patch_size: tuple[int, int, int]
    eps: float
    rope_theta: float
    num_modalities: int
    two_stream: bool
    aux_streams: int
    switcher: str
    aux_input: str
    aux_head: str
    adaln_timestep: str
    dtype: str
    param_dtype: str
    remat_policy: str
    scan_layers: bool
    attention: str
    attention_chunk: int

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def compute_dtype(self):
        return DTYPES[self.dtype]

    @property
    def weight_dtype(self):
        return DTYPES[self.param_dtype]

    @property
    def patch_volume(self) -> int:
        pt, ph, pw = self.patch_size
        return pt * ph * pw


def from_config(model_config) -> DiTSpec:
    """Build and validate a `DiTSpec` from `config.model` (a ConfigDict, dict or DiTSpec)."""
    if isinstance(model_config, DiTSpec):
        return model_config
    values = dict(model_config)
    values.setdefault("two_stream", True)
    values.setdefault("aux_streams", 1)  # configs saved before several aux streams existed
    values.setdefault("scan_layers", True)  # configs saved before the option scanned
    values["patch_size"] = tuple(int(p) for p in values["patch_size"])
    fields = {f.name for f in dataclasses.fields(DiTSpec)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"config.model has unknown keys {unknown}; expected only {sorted(fields)}")
    missing = sorted(fields - set(values))
    if missing:
        raise ValueError(f"config.model is missing keys {missing}; start from configs/base.py")
    spec = DiTSpec(**values)
    _validate(spec)
    return spec


def _validate(spec: DiTSpec) -> None:
    for key, allowed in CHOICES.items():
        if getattr(spec, key) not in allowed:
            raise ValueError(f"config.model.{key}={getattr(spec, key)!r}: expected one of {allowed}")
    for key in ("dtype", "param_dtype"):
        if getattr(spec, key) not in DTYPES:
            raise ValueError(f"config.model.{key}={getattr(spec, key)!r}: expected one of {tuple(DTYPES)}")
    if spec.dim % spec.num_heads:
        raise ValueError(
            f"config.model.dim={spec.dim} is not divisible by num_heads={spec.num_heads}: "
            "choose num_heads that divides dim"
        )
    if spec.head_dim % 2 or spec.head_dim < 6:
        raise ValueError(
            f"head_dim = dim / num_heads = {spec.head_dim}: 3D RoPE needs an even head_dim of at least 6"
        )
    if not 1 <= spec.aux_streams <= spec.num_modalities:
        raise ValueError(
            f"config.model.aux_streams={spec.aux_streams}: expected 1..{spec.num_modalities} "
            "(each aux stream of a sample holds a different modality)"
        )
    if spec.freq_dim % 2:
        raise ValueError(f"config.model.freq_dim={spec.freq_dim} must be even ([cos, sin] halves)")
    if len(spec.patch_size) != 3 or min(spec.patch_size) < 1:
        raise ValueError(f"config.model.patch_size={spec.patch_size}: expected three positive ints (t, h, w)")
