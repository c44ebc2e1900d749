"""The device mesh ('data', 'fsdp', 'context', 'tensor') from `config.parallel`."""

from __future__ import annotations

import math

import jax
from jax.sharding import AxisType, Mesh

from unityvideo_jax.parallel.rules import MESH_AXES


def mesh_shape(parallel, num_devices: int) -> tuple[int, ...]:
    """Axis sizes from the config; one axis may be -1 to take the devices left over."""
    sizes = [int(parallel[a]) for a in MESH_AXES]
    free = [i for i, s in enumerate(sizes) if s == -1]
    if len(free) > 1:
        raise ValueError(f"config.parallel sets {len(free)} axes to -1: at most one axis may take the rest")
    fixed = math.prod(s for s in sizes if s != -1)
    if free:
        if num_devices % fixed:
            raise ValueError(
                f"config.parallel fixes {fixed} devices per replica but there are {num_devices} devices: "
                "choose sizes whose product divides the device count"
            )
        sizes[free[0]] = num_devices // fixed
    if math.prod(sizes) != num_devices:
        shape = dict(zip(MESH_AXES, sizes))
        raise ValueError(
            f"config.parallel mesh {shape} needs {math.prod(sizes)} devices but there are {num_devices}: "
            "make the sizes multiply to the device count (or set one to -1)"
        )
    return tuple(sizes)


def make_mesh(parallel, devices=None) -> Mesh:
    """A mesh with Auto axes (jax 0.10's make_mesh defaults to Explicit, which we do not use)."""
    devices = list(devices if devices is not None else jax.devices())
    wanted = int(parallel.get("devices", 0) or 0)
    if wanted:
        if wanted > len(devices):
            raise ValueError(f"config.parallel.devices={wanted} but only {len(devices)} devices exist")
        devices = devices[:wanted]
    shape = mesh_shape(parallel, len(devices))
    return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES), devices=devices)
