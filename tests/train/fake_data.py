"""A deterministic in-memory batch iterator with Grain's get_state/set_state, for trainer tests."""

from __future__ import annotations

import numpy as np


class SyntheticBatches:
    def __init__(self, config, batch=2, frames=2, size=8, fixed=False, nan_at=(), seed=0):
        self.config, self.batch, self.frames, self.size = config, batch, frames, size
        self.fixed, self.nan_at, self.seed, self.index = fixed, set(nan_at), seed, 0

    def __iter__(self):
        return self

    def __next__(self):
        i = 0 if self.fixed else self.index
        rng = np.random.default_rng([self.seed, i])
        m, d = self.config.model, self.config.data
        shape = (self.batch, self.frames, self.size, self.size, m.in_channels)
        batch = {
            "rgb": np.tanh(rng.standard_normal(shape)).astype(np.float32),
            "aux": np.tanh(rng.standard_normal(shape)).astype(np.float32),
            "modality": rng.integers(0, m.num_modalities, self.batch).astype(np.int32),
            "text": (0.1 * rng.standard_normal((self.batch, d.text_len, m.text_dim))).astype(np.float32),
            "source": rng.integers(0, len(d.sources), self.batch).astype(np.int32),
        }
        if self.index in self.nan_at:
            batch["rgb"][0, 0, 0, 0, 0] = np.nan
        self.index += 1
        return batch

    def get_state(self):
        return {"index": self.index}

    def set_state(self, state):
        self.index = int(state["index"])
