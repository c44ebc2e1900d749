"""Logging: every `log_every` steps the window of per-step metrics becomes one line of scalars
(metrics.jsonl and TensorBoard, see metrics.py) and the progress bar's postfix."""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from unityvideo_jax.diffusion.tasks import TASKS
from unityvideo_jax.modalities import NAMES
from unityvideo_jax.train.hooks import Hook, Run
from unityvideo_jax.train.metrics import MetricsWriter


class MetricsHook(Hook):
    """Averages each window of steps and writes it, with the rates of steps, tokens and FLOPs."""

    def __init__(self, writer: MetricsWriter, *, every: int, progress: bool, open_ended: bool):
        self.writer, self.every = writer, int(every)
        self.progress, self.open_ended = progress, open_ended
        self.window: list[dict] = []

    def begin(self, run: Run) -> None:
        # with a time budget the step count is open-ended: show count and rate, not a meaningless ETA
        self.bar = tqdm(total=None if self.open_ended else run.end, initial=run.start, disable=not self.progress,
                        unit="step", dynamic_ncols=True)
        self.last_time, self.last_step = time.perf_counter(), run.start

    def after_step(self, run: Run, done: int) -> None:
        self.window.append(run.metrics)
        if run.at(done, self.every):
            self._log(run, done)
        if run.at(done, run.config.train.checkpoint_every):
            self.writer.flush()  # a remote run folder's logs reach the bucket with each checkpoint
        self.bar.update(1)

    def _log(self, run: Run, done: int) -> None:
        fetched = run.fetch(self.window)  # waits for the window's steps to finish computing
        rate = (done - self.last_step) / max(time.perf_counter() - self.last_time, 1e-9)
        scalars = reduce_window(fetched)
        scalars.update(steps_per_second=rate, **run.work.rates(rate))
        self.writer.write(done, scalars)
        self.bar.set_postfix(loss=f"{scalars['loss']:.4f}", steps_s=f"{rate:.2f}", refresh=False)
        self.window = []
        self.last_time, self.last_step = time.perf_counter(), done

    def close(self, run: Run) -> None:
        self.bar.close()


def reduce_window(window: list[dict]) -> dict[str, float]:
    """Average a window of per-step metrics; per-task and per-modality losses from sums and counts."""
    finite = [m for m in window if bool(m["finite"])]
    out = {"skipped_steps": float(len(window) - len(finite))}
    if not finite:
        out["loss"] = float("nan")
        return out
    for key in ("loss", "loss_rgb", "loss_aux", "grad_norm"):
        out[key] = float(np.mean([m[key] for m in finite]))
    for kind, names in (("task", TASKS), ("modality", NAMES)):
        out.update(_mean_by_name(finite, kind, names))
    return out


def _mean_by_name(finite: list[dict], kind: str, names) -> dict[str, float]:
    """loss/{kind}/{name}: the loss summed over the window's samples of that name, over their count."""
    sums = np.sum([m[f"{kind}_loss_sum"] for m in finite], axis=0)
    counts = np.sum([m[f"{kind}_count"] for m in finite], axis=0)
    return {f"loss/{kind}/{name}": float(s / c) for name, s, c in zip(names, sums, counts) if c > 0}
