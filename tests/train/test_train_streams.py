"""The training step with k aux streams: one compilation for any mix of patterns, learning, masks."""

from __future__ import annotations

import json
import os

import numpy as np

from tests.train.test_train import tiny_train_config
from unityvideo_jax.train.loop import train


class StreamBatches:
    """Synthetic batches with k aux streams: distinct modalities per sample, some streams absent."""

    def __init__(self, config, k=3, batch=4, frames=2, size=8, seed=0):
        self.config, self.k, self.batch, self.frames, self.size, self.seed = config, k, batch, frames, size, seed
        self.index = 0

    def __iter__(self):
        return self

    def __next__(self):
        rng = np.random.default_rng([self.seed, self.index])
        m, d = self.config.model, self.config.data
        shape = (self.batch, self.frames, self.size, self.size, m.in_channels)
        present = np.zeros((self.batch, self.k), bool)
        for row in present:
            row[: rng.integers(1, self.k + 1)] = True
        batch = {
            "rgb": np.tanh(rng.standard_normal(shape)).astype(np.float32),
            "aux": (np.tanh(rng.standard_normal((self.batch, self.k) + shape[1:]))
                    * present[:, :, None, None, None, None]).astype(np.float32),
            "modality": np.stack([rng.permutation(m.num_modalities)[: self.k] for _ in range(self.batch)]).astype(np.int32),
            "present": present,
            "text": (0.1 * rng.standard_normal((self.batch, d.text_len, m.text_dim))).astype(np.float32),
            "source": rng.integers(0, len(d.sources), self.batch).astype(np.int32),
        }
        self.index += 1
        return batch

    def get_state(self):
        return {"index": self.index}

    def set_state(self, state):
        self.index = int(state["index"])


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_any_mix_of_stream_patterns_compiles_once_and_trains(tmp_path):
    config = tiny_train_config(steps=24, checkpoint_every=100, log_every=4)
    config.model.aux_streams = 3
    config.diffusion.mixed_streams = 0.5
    summary = train(config, str(tmp_path), lambda c, s: StreamBatches(c), progress=False)
    assert summary.compilations == 1
    rows = _metrics(tmp_path)
    assert all(np.isfinite(r["loss"]) for r in rows)
    modalities_seen = {k for r in rows for k in r if k.startswith("loss/modality/")}
    assert len(modalities_seen) >= 3  # the per-modality losses come from every stream
    assert len({k for r in rows for k in r if k.startswith("loss/task/")}) >= 2


def test_streams_overfit_one_batch(tmp_path):
    config = tiny_train_config(steps=120, lr=3e-3, log_every=10, checkpoint_every=1000)
    config.model.aux_streams = 2
    config.diffusion.update(fixed_noise=True, caption_dropout=0.0)

    class Fixed(StreamBatches):
        def __next__(self):
            self.index, keep = 0, self.index
            out = super().__next__()
            self.index = keep + 1
            return out

    train(config, str(tmp_path), lambda c, s: Fixed(c, k=2, batch=2), progress=False)
    losses = [m["loss"] for m in _metrics(tmp_path)]
    assert losses[-1] * 5 <= losses[0], f"loss fell only from {losses[0]:.3f} to {losses[-1]:.3f}"


def test_throughput_counts_every_stream():
    from unityvideo_jax.model.dit.flops import train_step_flops
    from unityvideo_jax.model.dit.spec import from_config
    from unityvideo_jax.train.throughput import step_work

    config = tiny_train_config()
    config.model.aux_streams = 3
    batch = next(StreamBatches(config, k=3, batch=2, frames=2, size=8))
    work = step_work(config, batch)
    grid = (2, 4, 4)  # tiny_paper's (1, 2, 2) patches
    assert work.tokens == 4 * 2 * 32
    assert work.flops == train_step_flops(from_config(config.model), grid, 4, config.data.text_len, 2)
    one = {**batch, "aux": batch["aux"][:, 0]}
    assert step_work(config, one).tokens == 2 * 2 * 32
