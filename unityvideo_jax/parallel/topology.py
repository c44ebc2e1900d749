"""TPU slices by their Cloud names (v5p-8, v5e-4, ...): chips, their shape, HBM and peak FLOP/s.

`topology_devices` returns compile-only devices of a slice through `jax.experimental.topologies`
(the `libtpu` wheel matching jax, `pip install -e .[tpu]`), so a CPU host can compile for it.
Names count TensorCores on v4/v5p (two per chip, one device each: megacore) and chips on
v5e/v6e. Chip figures are Google's published per-chip numbers (HBM in decimal GB, as documented).
"""

from __future__ import annotations

import dataclasses
import os
import re


@dataclasses.dataclass(frozen=True)
class Chip:
    generation: str  # the Cloud name's prefix: v4, v5p, v5e, v6e
    platform_name: str  # its name in libtpu topology strings
    hbm_bytes: int
    peak_bf16_flops: float  # per chip, per second
    hbm_bytes_per_s: float
    cores_in_name: int  # TensorCores the Cloud name counts per chip
    dims: int  # 2D or 3D torus


CHIPS = {
    "v4": Chip("v4", "v4", 32 * 10**9, 275e12, 1.2e12, 2, 3),
    "v5p": Chip("v5p", "v5", 95 * 10**9, 459e12, 2.765e12, 2, 3),
    "v5e": Chip("v5e", "v5e", 16 * 10**9, 197e12, 0.819e12, 1, 2),
    "v6e": Chip("v6e", "v6e", 32 * 10**9, 918e12, 1.64e12, 1, 2),
}
ALIASES = {"v5litepod": "v5e", "v6litepod": "v6e"}


@dataclasses.dataclass(frozen=True)
class Slice:
    name: str
    chip: Chip
    chips: int
    shape: tuple[int, ...]  # chips along each torus axis

    @property
    def topology(self) -> str:
        return f"{self.chip.platform_name}:{'x'.join(str(s) for s in self.shape)}"


def _shape(chips: int, dims: int) -> tuple[int, ...]:
    """The usual slice shape: 2D as square as it gets (2x4, 4x4); 3D grown from a 2x2x1 host."""
    k = chips.bit_length() - 1
    if chips < 1 or chips != 1 << k:
        raise ValueError(f"{chips} chips: only power-of-two slices are in the table (e.g. v5p-8, v5e-4)")
    if dims == 2:
        return (1 << (k // 2), 1 << (k - k // 2))
    exponents = [min(k, 1), min(max(k - 1, 0), 1), 0]
    growth = [2] + [2, 1, 0] * k  # 2x2x1 -> 2x2x2 -> 2x2x4 -> 2x4x4 -> 4x4x4 -> 4x4x8 ...
    for axis in growth[: max(k - 2, 0)]:
        exponents[axis] += 1
    return tuple(1 << e for e in exponents)


def parse(name: str) -> Slice:
    """'v5p-8' -> the slice: 4 chips of v5p in a 2x2x1 torus."""
    match = re.fullmatch(r"(v\w+?)-(\d+)", name.strip().lower())
    generation = ALIASES.get(match.group(1), match.group(1)) if match else None
    if generation not in CHIPS:
        raise ValueError(f"--topology {name!r}: expected <generation>-<count> with generation one of "
                         f"{', '.join(CHIPS)} (e.g. v5p-8, v5e-4, v6e-8)")
    chip = CHIPS[generation]
    count = int(match.group(2))
    if count % chip.cores_in_name:
        raise ValueError(f"--topology {name!r}: {generation} names count {chip.cores_in_name} cores per chip")
    chips = count // chip.cores_in_name
    return Slice(name, chip, chips, _shape(chips, chip.dims))


def topology_devices(tpu: Slice, num_slices: int = 1) -> list:
    """Compile-only devices of `num_slices` copies of the slice (multislice when > 1)."""
    try:
        from jax.experimental import topologies
    except ImportError as err:  # pragma: no cover - part of jax
        raise ValueError(f"jax.experimental.topologies is unavailable: {err}") from err
    # libtpu locks /tmp/libtpu_lockfile for the process that owns the local TPU; compiling for a
    # described topology owns nothing, so it must not be refused because another process holds it.
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    host = (2, 2, 1) if tpu.chips >= 4 else (1, 1, 1)
    config = "megacore" if tpu.chip.cores_in_name == 2 else "default"
    try:
        desc = topologies.get_topology_desc(
            platform="tpu", topology_name=tpu.topology, chip_config_name=config,
            chips_per_host_bounds=host, num_slices=num_slices,
        )
    except Exception as err:  # noqa: BLE001 - libtpu missing or too old says so in its own words
        raise ValueError(
            f"cannot describe TPU topology {tpu.topology} ({tpu.name}) on this host: {str(err).splitlines()[0]} "
            "- install the libtpu wheel that matches jax: pip install -e .[tpu]"
        ) from None
    return list(desc.devices)
