"""What a run writes about itself: a JSON-lines file and TensorBoard events (no TensorFlow).

Both live in the run folder; when it is a gs:// URL they are written locally and uploaded as whole
files (storage/mirror.py) at most every `sync_every_s`, at each checkpoint and at the end.
"""

from __future__ import annotations

import json
from typing import Mapping

import numpy as np

from unityvideo_jax.storage.mirror import MirroredFolder

JSONL, TENSORBOARD = "metrics.jsonl", "tensorboard"


class MetricsWriter:
    """Appends one JSON object per logged step to metrics.jsonl, and scalars to TensorBoard events."""

    def __init__(self, workdir: str, *, enabled: bool = True, sync_every_s: float = 30.0):
        self.enabled = enabled
        if not enabled:
            return
        self.mirror = MirroredFolder(workdir, (JSONL, TENSORBOARD), min_interval_s=sync_every_s)
        self._jsonl = open(self.mirror.local / JSONL, "a", buffering=1)
        try:
            from tensorboardX import SummaryWriter
        except ImportError:  # TensorBoard is optional; the JSON lines are always written
            self._tb = None
        else:
            self._tb = SummaryWriter(str(self.mirror.local / TENSORBOARD))

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in scalars.items() if np.isfinite(v) or k == "loss"}
        self._jsonl.write(json.dumps({"step": step, **clean}) + "\n")
        if self._tb is not None:
            for key, value in clean.items():
                self._tb.add_scalar(key, value, step)
        if self.mirror.remote:
            self.flush(force=False)

    def flush(self, *, force: bool = True) -> None:
        """Make what was written visible in the run folder (a remote one: upload what changed)."""
        if not self.enabled:
            return
        if self._tb is not None:
            self._tb.flush()
        self.mirror.sync() if force else self.mirror.maybe_sync()

    def close(self) -> None:
        if not self.enabled:
            return
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
        self.mirror.close()
