"""Weights that wait in host memory and visit the accelerator only for their stage.

The 5B release does not fit a 16 GB chip whole: the umT5-XXL text encoder (11.4 GB in bf16) and the
DiT (10 GB) together need 21 GB. `unityvideo aot --job sample` (aot/sample_plan.py) plans each stage
alone on the chip; `HostWeights` makes the pipeline run them so: a stage's parameters are copied to
the device when it starts and their device buffers deleted when it ends, so the text encoder is gone
before the DiT is placed. The copy costs a host-to-device transfer per stage and video (~10 GB, a
second or two on a TPU VM); where everything fits, the pipeline keeps its weights on the device.
"""

from __future__ import annotations

import contextlib

import jax


class HostWeights:
    """A parameter tree held in host memory; `placed()` lends a device copy for one stage."""

    def __init__(self, tree, device=None):
        self.host = jax.device_get(tree)  # numpy leaves (bf16 through ml_dtypes)
        self.device = device
        self.bytes = sum(x.nbytes for x in jax.tree.leaves(self.host))

    @contextlib.contextmanager
    def placed(self):
        tree = jax.device_put(self.host, self.device)
        try:
            yield tree
        finally:
            for leaf in jax.tree.leaves(tree):
                leaf.delete()  # the stage is over: its HBM is free for the next one


def fits_together(*trees_bytes: int, device=None, headroom: float = 0.10) -> bool:
    """Whether weights of these byte sizes fit the device at once with `headroom` of it to spare.
    A device that does not report its memory (CPU) counts as large enough."""
    device = device or jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    limit = (stats or {}).get("bytes_limit")
    return limit is None or sum(trees_bytes) <= (1 - headroom) * limit
