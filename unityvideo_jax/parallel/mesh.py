"""The device mesh ('data', 'fsdp', 'context', 'tensor') from `config.parallel`.

`config.parallel.{data,fsdp,context,tensor}` are the sizes inside one slice (ICI, the chips'
own links); `config.parallel.dcn_{data,fsdp,context,tensor}` multiply them across slices (DCN,
the data-centre network of a multislice run). Each mesh axis is ici x dcn long. With more than
one slice the devices are laid out by `mesh_utils.create_hybrid_device_mesh`, so an axis's DCN
part only ever crosses slices; put the axes that talk least (data, then fsdp) on DCN.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh

from unityvideo_jax.parallel.rules import MESH_AXES


def dcn_shape(parallel) -> tuple[int, ...]:
    """The slices along each axis (1 where the config does not say)."""
    sizes = tuple(int(parallel.get(f"dcn_{a}", 1) or 1) for a in MESH_AXES)
    if min(sizes) < 1:
        raise ValueError(f"config.parallel.dcn_* = {dict(zip(MESH_AXES, sizes))}: every DCN size must be >= 1")
    return sizes


def mesh_shape(parallel, num_devices: int) -> tuple[int, ...]:
    """ICI axis sizes for `num_devices` devices in one slice; one axis may be -1 to take the rest."""
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
    dcn = dcn_shape(parallel)
    slices = math.prod(dcn)
    if len(devices) % slices:
        raise ValueError(
            f"config.parallel.dcn_* asks for {slices} slices but {len(devices)} devices do not split into them: "
            "make the product of the dcn_* sizes divide the device count"
        )
    ici = mesh_shape(parallel, len(devices) // slices)
    types = (AxisType.Auto,) * len(MESH_AXES)
    if slices == 1:
        return jax.make_mesh(ici, MESH_AXES, axis_types=types, devices=devices)
    # Devices without a slice index (CPU, GPU) count each process as a slice.
    by_process = getattr(devices[0], "slice_index", None) is None
    found = len({d.process_index if by_process else d.slice_index for d in devices})
    if found != slices:
        raise ValueError(
            f"config.parallel.dcn_* asks for {slices} slices but the devices come from {found}: set the dcn_* "
            "sizes to multiply to the number of slices (1 on a single slice)"
        )
    grid = mesh_utils.create_hybrid_device_mesh(
        ici, dcn, devices, process_is_granule=by_process, allow_split_physical_axes=True
    )
    return Mesh(np.asarray(grid), MESH_AXES, axis_types=types)
