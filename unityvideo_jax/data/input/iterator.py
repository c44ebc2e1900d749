"""The training input: `make_iterator(config)` yields this host's slice of every global batch.

Each batch is a dict of numpy arrays (b = config.data.global_batch / process_count):
  rgb, aux   (b, F', H', W', C) float32 latents (pixel space: latents/pixel.py of the uint8 videos)
  modality   (b,) int32 index into modalities.MODALITIES (the aux stream's modality)
  text       (b, config.data.text_len, config.model.text_dim) float32, zero-padded
  source     (b,) int32 index into config.data.sources
With config.model.aux_streams = k > 1, up to k different modalities of each clip: aux (b, k, F', H',
W', C), modality (b, k) and present (b, k) bool (absent streams are zeros, after the present ones).
Batch n is the one of train step n, a pure function of (config, n): mixing.py plans it, loader.py
reads it, Grain runs it (threads, optionally `config.data.workers` processes). The iterator's
`get_state()` is JSON and `set_state()` continues exactly where the saved iterator stopped.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import grain

from unityvideo_jax.data.input.heldout import eval_clips  # noqa: F401  (the evaluation side of the data)
from unityvideo_jax.data.input.loader import SampleLoader
from unityvideo_jax.data.input.mixing import Mixer
from unityvideo_jax.data.input.sources import open_sources

READ_THREADS = 2  # batches assembled concurrently per process
PREFETCH_BATCHES = 2
WORKER_BUFFER = 2  # batches each worker process keeps ready


def _flags_parsed() -> None:
    # Grain's multiprocess prefetch reads absl flags; a program without absl has parsed none.
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _init_worker(index: int, count: int) -> None:
    # Spawned workers: flags as above, and JAX (the text encoder of in-memory UniSynth) stays on
    # the CPU, off the accelerator the trainer holds.
    _flags_parsed()
    os.environ["JAX_PLATFORMS"] = "cpu"


def _dataset(loader: SampleLoader, workers: int, start_step: int) -> grain.IterDataset:
    samples = grain.MapDataset.range(start_step * loader.batch, sys.maxsize).map(loader)
    batches = samples.batch(loader.batch, drop_remainder=True, batch_fn=loader.collate)
    read = grain.ReadOptions(num_threads=READ_THREADS, prefetch_buffer_size=PREFETCH_BATCHES)
    dataset = batches.to_iter_dataset(read)
    if workers > 0:
        _flags_parsed()
        options = grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=WORKER_BUFFER)
        dataset = dataset.mp_prefetch(options, worker_init_fn=_init_worker)
    return dataset


class BatchIterator(grain.DatasetIterator):
    """Grain's iterator plus the step it started at, so a saved state restores into any new iterator."""

    def __init__(self, build: Callable[[int], grain.IterDataset], start_step: int, loader: SampleLoader):
        super().__init__()
        self._build, self._start, self._loader = build, int(start_step), loader
        self._inner = iter(build(self._start))

    def __next__(self) -> dict:
        return next(self._inner)

    def get_state(self) -> dict:
        return {"start_step": self._start, "grain": self._inner.get_state()}

    def set_state(self, state: dict) -> None:
        if int(state["start_step"]) != self._start:
            self._inner.close()
            self._start = int(state["start_step"])
            self._inner = iter(self._build(self._start))
        self._inner.set_state(state["grain"])

    @property
    def bad_records(self) -> int:
        """Records skipped so far in this process (workers log their own)."""
        return self._loader.guard.bad

    def close(self) -> None:
        self._inner.close()
        super().close()


def make_iterator(config, *, process_index: int | None = None, process_count: int | None = None, start_step: int = 0):
    """This host's batches from step `start_step` on (see the module docstring for the contract)."""
    return iterate_sources(
        config, open_sources(config), process_index=process_index, process_count=process_count, start_step=start_step
    )


def iterate_sources(config, sources: dict, *, process_index=None, process_count=None, start_step: int = 0):
    """`make_iterator` over given record sources ({name: sequence of records with `locate`})."""
    if process_index is None or process_count is None:
        import jax

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if start_step < 0:
        raise ValueError(f"start_step={start_step}: expected a step >= 0")
    loader = SampleLoader(config, sources, Mixer(config), int(process_index), int(process_count))
    workers = int(config.data.workers)
    return BatchIterator(lambda start: _dataset(loader, workers, start), start_step, loader)
