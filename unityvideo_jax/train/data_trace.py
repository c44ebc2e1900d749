"""The data trace: a fingerprint of every batch, one JSON line per step, in WORKDIR/data_trace.jsonl.
Resume tests compare traces to prove a resumed run draws the very batches an unbroken one does."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from unityvideo_jax.train.hooks import Hook, Run


class DataTraceHook(Hook):
    def __init__(self, path: str):
        self.path, self.file = path, None

    def begin(self, run: Run) -> None:
        # appended (a resumed run adds its steps) and line-buffered: a killed run keeps every line it wrote
        self.file = open(self.path, "a", buffering=1)

    def on_batch(self, run: Run, step: int, local: dict) -> None:
        self.file.write(json.dumps({"step": step, "batch": fingerprint(local)}) + "\n")

    def close(self, run: Run) -> None:
        if self.file is not None:
            self.file.close()


def fingerprint(batch: dict) -> str:
    """16 hex digits of the SHA-1 of the batch's arrays, in key order."""
    digest = hashlib.sha1()
    for key in sorted(batch):
        digest.update(np.ascontiguousarray(batch[key]).tobytes())
    return digest.hexdigest()[:16]
