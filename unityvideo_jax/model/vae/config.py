"""The shapes of the Wan VAEs: `WanVAEConfig`, the published ones and tiny ones for tests, by name."""

from __future__ import annotations

import dataclasses
from typing import Any

from unityvideo_jax.dtypes import DTYPES

# Per-channel latent statistics of the published VAEs (diffusers' configs / conversion script).
WAN21_LATENTS_MEAN = (
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
)  # fmt: skip
WAN21_LATENTS_STD = (
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
)  # fmt: skip
WAN22_LATENTS_MEAN = (
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
    -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
    -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
    -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
    -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
    0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
)  # fmt: skip
WAN22_LATENTS_STD = (
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
    0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
    0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
    0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
    0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class WanVAEConfig:
    """The shape of a Wan VAE; field names follow diffusers' `AutoencoderKLWan` config."""

    base_dim: int = 96
    decoder_base_dim: int | None = None  # None: same as base_dim
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple[bool, ...] = (False, True, True)
    is_residual: bool = False  # Wan2.2: residual down/up blocks with averaging/duplicating shortcuts
    in_channels: int = 3  # after patchify: 3 * patch_size**2
    out_channels: int = 3
    patch_size: int = 1
    latents_mean: tuple[float, ...] = WAN21_LATENTS_MEAN
    latents_std: tuple[float, ...] = WAN21_LATENTS_STD
    dtype: str = "float32"  # compute dtype; parameters are fp32, norms run in fp32

    def __post_init__(self):
        for name in ("dim_mult", "temporal_downsample", "latents_mean", "latents_std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if len(self.temporal_downsample) != len(self.dim_mult) - 1:
            problems.append(f"temporal_downsample needs {len(self.dim_mult) - 1} entries (one per downsampling stage)")
        if len(self.latents_mean) != self.z_dim or len(self.latents_std) != self.z_dim:
            problems.append(f"latents_mean and latents_std need z_dim={self.z_dim} entries")
        if self.in_channels % self.patch_size**2 or self.out_channels % self.patch_size**2:
            problems.append(f"in/out channels must be multiples of patch_size**2={self.patch_size**2}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {sorted(DTYPES)}")
        if problems:
            raise ValueError(f"bad WanVAEConfig {self}: " + "; ".join(problems))

    @property
    def decoder_dim(self) -> int:
        return self.decoder_base_dim or self.base_dim

    @property
    def compute_dtype(self):
        return DTYPES[self.dtype]

    @property
    def spatial_stride(self) -> int:
        return self.patch_size * 2 ** (len(self.dim_mult) - 1)

    @property
    def temporal_stride(self) -> int:
        return 2 ** sum(self.temporal_downsample)

    @property
    def video_channels(self) -> int:
        return self.in_channels // self.patch_size**2


WAN21_VAE = WanVAEConfig()
WAN22_VAE = WanVAEConfig(
    base_dim=160,
    decoder_base_dim=256,
    z_dim=48,
    is_residual=True,
    in_channels=12,
    out_channels=12,
    patch_size=2,
    latents_mean=WAN22_LATENTS_MEAN,
    latents_std=WAN22_LATENTS_STD,
)
# Named like the latent spaces that use them (`config.data.latent`: "wan21", "wan22").
VAE_CONFIGS = {
    "wan21": WAN21_VAE,
    "wan22": WAN22_VAE,
    "wan21_tiny": dataclasses.replace(WAN21_VAE, base_dim=8, z_dim=4, latents_mean=(0.0,) * 4, latents_std=(1.0,) * 4),
    "wan22_tiny": dataclasses.replace(
        WAN22_VAE, base_dim=8, decoder_base_dim=12, z_dim=8, latents_mean=(0.0,) * 8, latents_std=(1.0,) * 8
    ),
}
_RENAMED = {"wan2.1": "wan21", "wan2.2": "wan22", "wan2.1-tiny": "wan21_tiny", "wan2.2-tiny": "wan22_tiny"}


def get_vae_config(name: str, **overrides) -> WanVAEConfig:
    """A published ('wan21', 'wan22') or test ('wan21_tiny', 'wan22_tiny') config by name."""
    if name in _RENAMED:
        raise ValueError(f"the VAE config {name!r} is now called {_RENAMED[name]!r}; pass that name")
    if name not in VAE_CONFIGS:
        raise ValueError(f"unknown VAE config {name!r}; choose one of {sorted(VAE_CONFIGS)}")
    return dataclasses.replace(VAE_CONFIGS[name], **overrides)


_DIFFUSERS_IGNORED = {"dropout", "clip_output", "scale_factor_temporal", "scale_factor_spatial"}
_DIFFUSERS_RENAMED = {"temperal_downsample": "temporal_downsample"}  # diffusers' spelling


def config_from_diffusers(diffusers_config: dict[str, Any], **overrides) -> WanVAEConfig:
    """The config of a diffusers `AutoencoderKLWan` (its config.json as a dict)."""
    fields = {f.name for f in dataclasses.fields(WanVAEConfig)}
    values = {}
    for key, value in diffusers_config.items():
        name = _DIFFUSERS_RENAMED.get(key, key)
        if key.startswith("_") or key in _DIFFUSERS_IGNORED:
            continue
        if key == "attn_scales":
            if value:
                raise ValueError(f"attn_scales={value} is not supported (every published Wan VAE has [])")
            continue
        if name not in fields:
            raise ValueError(f"unknown AutoencoderKLWan config key {key!r}; expected some of {sorted(fields)}")
        values[name] = 1 if (name == "patch_size" and value is None) else value
    config = WanVAEConfig(**{**values, **overrides})
    derived_strides = {"scale_factor_spatial": config.spatial_stride, "scale_factor_temporal": config.temporal_stride}
    for key, derived in derived_strides.items():
        if diffusers_config.get(key) not in (None, derived):
            raise ValueError(f"{key}={diffusers_config[key]} contradicts the architecture, which gives {derived}")
    return config
