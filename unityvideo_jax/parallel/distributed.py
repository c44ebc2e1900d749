"""Joining the other hosts of a multi-host run: `jax.distributed.initialize` from the environment.

Called first by the CLI (before anything touches a JAX backend). Three cases:
  JAX_COORDINATOR_ADDRESS set   explicit: host:port of process 0, with JAX_NUM_PROCESSES and
                                JAX_PROCESS_ID (any platform; the tests use two CPU processes)
  a TPU VM (TPU chips attached) jax finds its pod slice's workers from the TPU metadata itself
                                (a single-host VM becomes a cluster of one)
  anything else                 one host: nothing to do
"""

from __future__ import annotations

import glob
import os

import jax

COORDINATOR, COUNT, INDEX = "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"


def _tpu_attached() -> bool:
    # v4/v5e expose /dev/accel*, v5p/v6e /dev/vfio/<n>; checked without loading a backend.
    return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def initialize() -> bool:
    """Join the run's other processes if there are any; True when jax.distributed is now up."""
    if jax.distributed.is_initialized():
        return True
    address = os.environ.get(COORDINATOR)
    if address:
        missing = [name for name in (COUNT, INDEX) if name not in os.environ]
        if missing:
            raise ValueError(f"{COORDINATOR}={address} is set but {', '.join(missing)} is not: set all three "
                             "(or none, on a TPU VM)")
        jax.distributed.initialize(address, num_processes=int(os.environ[COUNT]),
                                   process_id=int(os.environ[INDEX]))
        return True
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if _tpu_attached() and (not platforms or "tpu" in platforms):
        jax.distributed.initialize()  # worker list, process id and coordinator from the TPU metadata
        return True
    return False
