"""What a run writes about itself: a JSON-lines file and TensorBoard events (no TensorFlow)."""

from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np


class MetricsWriter:
    """Appends one JSON object per logged step to metrics.jsonl, and scalars to TensorBoard events."""

    def __init__(self, workdir: str, *, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", buffering=1)
        try:
            from tensorboardX import SummaryWriter
        except ImportError:  # TensorBoard is optional; the JSON lines are always written
            self._tb = None
        else:
            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in scalars.items() if np.isfinite(v) or k == "loss"}
        self._jsonl.write(json.dumps({"step": step, **clean}) + "\n")
        if self._tb is not None:
            for key, value in clean.items():
                self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
