"""The data trace: a fingerprint of every batch, one JSON line per step, in WORKDIR/data_trace.jsonl
(process 0; process i > 0 writes data_trace.host<i>.jsonl, its own slice of each batch).
Resume tests compare traces to prove a resumed run draws the very batches an unbroken one does."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from unityvideo_jax.storage.mirror import MirroredFolder
from unityvideo_jax.train.hooks import Hook, Run


def trace_name(process: int) -> str:
    return "data_trace.jsonl" if process == 0 else f"data_trace.host{process}.jsonl"


class DataTraceHook(Hook):
    def __init__(self, workdir: str, process: int = 0):
        self.workdir, self.name, self.file, self.mirror = workdir, trace_name(process), None, None

    def begin(self, run: Run) -> None:
        # appended (a resumed run adds its steps) and line-buffered: a killed run keeps every line it wrote
        # locally; in a bucket, the lines up to the last upload (at most 30 s or one checkpoint old)
        self.mirror = MirroredFolder(self.workdir, (self.name,))
        self.file = open(self.mirror.local / self.name, "a", buffering=1)

    def on_batch(self, run: Run, step: int, local: dict) -> None:
        self.file.write(json.dumps({"step": step, "batch": fingerprint(local)}) + "\n")
        self.mirror.maybe_sync()

    def after_step(self, run: Run, done: int) -> None:
        if run.at(done, run.config.train.checkpoint_every):
            self.mirror.sync()

    def close(self, run: Run) -> None:
        if self.file is not None:
            self.file.close()
            self.mirror.close()


def fingerprint(batch: dict) -> str:
    """16 hex digits of the SHA-1 of the batch's arrays, in key order."""
    digest = hashlib.sha1()
    for key in sorted(batch):
        digest.update(np.ascontiguousarray(batch[key]).tobytes())
    return digest.hexdigest()[:16]
