"""The training loop: sharded state, resume, the compiled step, logging, checkpoints, faults.

Model FLOPs per device (the TFLOP/s it reports) follow unityvideo_jax/model/dit/flops.py:
3 x forward FLOPs per sample x global batch, divided by step time and device count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Callable

import jax
import numpy as np
from flax import nnx
from flax.core import spmd as flax_spmd
from tqdm import tqdm

from unityvideo_jax.diffusion.tasks import TASKS
from unityvideo_jax.latents.shapes import token_grid
from unityvideo_jax.modalities import NAMES
from unityvideo_jax.model.dit.flops import train_step_flops
from unityvideo_jax.model.dit.partner import init_partner_heads
from unityvideo_jax.model.dit.transformer import UnityDiT
from unityvideo_jax.parallel.batch import to_global
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules
from unityvideo_jax.parallel.sharding import shardings_like_params, state_shardings
from unityvideo_jax.parallel.validate import check_divisible, validate
from unityvideo_jax.train import checkpoint
from unityvideo_jax.train.constants import step_constants
from unityvideo_jax.train.metrics import MetricsWriter
from unityvideo_jax.train.optimizer import make_optimizer
from unityvideo_jax.train.state import TrainState, create_state
from unityvideo_jax.train.step import make_train_step


class TrainingStopped(RuntimeError):
    """Too many non-finite steps in a row: something is wrong with the data or the learning rate."""


@dataclasses.dataclass
class RunSummary:
    state: TrainState
    steps_run: int
    wall_seconds: float
    outside_seconds: float  # data, logging and checkpointing: time the host spent not waiting on the step
    steps_per_second: float
    tokens_per_second: float
    tflops_per_device: float
    compilations: int


def sharded_state(config, mesh, rules, optimizer):
    """(abstract state with shardings, shardings, graphdef) without allocating anything."""
    def make_model():
        model = UnityDiT(config.model, rngs=nnx.Rngs(config.train.seed))
        if config.train.get("partner_init", False):
            init_partner_heads(model, token_grid(config), config.train.seed)
        return model

    abstract_model = nnx.eval_shape(make_model)
    check_divisible(nnx.state(abstract_model), mesh, rules)
    graphdef, abstract_params = nnx.split(abstract_model, nnx.Param)
    param_shardings = nnx.to_pure_dict(state_shardings(abstract_params, mesh, rules))
    shapes = jax.eval_shape(lambda: create_state(make_model(), optimizer, config.train.seed))
    shardings = shardings_like_params(shapes, shapes.params, param_shardings, mesh)
    abstract = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)
    return abstract, shardings, graphdef, make_model


def _fingerprint(batch) -> str:
    digest = hashlib.sha1()
    for key in sorted(batch):
        digest.update(np.ascontiguousarray(batch[key]).tobytes())
    return digest.hexdigest()[:16]


def train(config, workdir: str, make_iterator: Callable, *, progress: bool = True, profile: bool = False,
          record_batches: bool = False, time_budget_s: float | None = None) -> RunSummary:
    """Train `config` in `workdir`, resuming from its latest readable checkpoint.

    `make_iterator(config, start_step)` returns this host's batch iterator with Grain's
    get_state()/set_state(); its state is checkpointed with the train state. With
    `time_budget_s` the run also stops (with a checkpoint) once that much wall time has passed.
    """
    mesh = make_mesh(config.parallel)
    rules = get_rules(config.parallel.preset)
    validate(config, mesh)
    train_cfg = config.train
    optimizer = make_optimizer(train_cfg)
    primary = jax.process_index() == 0
    writer = MetricsWriter(workdir, enabled=primary)
    mngr = checkpoint.manager(os.path.join(os.path.abspath(workdir), "checkpoints"), train_cfg.keep_checkpoints)

    constants = step_constants(config)  # text encoders build outside the mesh context
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        abstract, shardings, graphdef, make_model = sharded_state(config, mesh, rules, optimizer)
        iterator = make_iterator(config, 0)
        restored = checkpoint.restore_latest(mngr, abstract)
        if restored is not None:
            state, data_state, _ = restored
            iterator.set_state(checkpoint.data_state_of(data_state))
        else:
            state = jax.jit(lambda: create_state(make_model(), optimizer, train_cfg.seed), out_shardings=shardings)()
        start = int(jax.device_get(state.step))
        step_fn = jax.jit(
            make_train_step(graphdef, config, optimizer), donate_argnums=(0,), out_shardings=(shardings, None)
        )
        summary = _run(config, workdir, state, start, iterator, step_fn, constants, mesh, rules, mngr, writer,
                       progress=progress, profile=profile, record_batches=record_batches,
                       time_budget_s=time_budget_s)
    mngr.wait_until_finished()
    mngr.close()
    writer.close()
    return summary


def _run(config, workdir, state, start, iterator, step_fn, constants, mesh, rules, mngr, writer, *,
         progress, profile, record_batches, time_budget_s=None) -> RunSummary:
    train_cfg = config.train
    total = int(train_cfg.steps)
    window: list[dict] = []
    outside = 0.0
    tokens_per_step = flops_per_step = 0
    # line-buffered: a killed run keeps every line it wrote
    trace = open(os.path.join(workdir, "data_trace.jsonl"), "a", buffering=1) if record_batches else None
    # with a time budget the step count is open-ended: show count and rate, not a meaningless ETA
    bar = tqdm(total=None if time_budget_s else total, initial=start, disable=not progress, unit="step",
               dynamic_ncols=True)
    begin = time.perf_counter()
    last_log, last_log_step = begin, start
    end = total
    for step in range(start, total):
        if profile and step == start + 2:
            jax.profiler.start_trace(os.path.join(workdir, "profile"))
        t0 = time.perf_counter()
        local = next(iterator)
        if trace is not None:
            trace.write(json.dumps({"step": step, "batch": _fingerprint(local)}) + "\n")
        batch = to_global(local, mesh, rules)
        if not tokens_per_step:
            tokens_per_step, flops_per_step = _work(config, batch)
        outside += time.perf_counter() - t0
        state, metrics = step_fn(state, batch, constants)
        window.append(metrics)
        done = step + 1
        if profile and step == start + 4:
            jax.block_until_ready(state.step)
            jax.profiler.stop_trace()
        out_of_time = time_budget_s is not None and time.perf_counter() - begin >= time_budget_s
        if out_of_time:
            end = done
        if done % train_cfg.log_every == 0 or done == end:
            fetched = jax.device_get(window)  # waits for the window's steps to finish computing
            now = t_log = time.perf_counter()
            scalars = _reduce(fetched)
            rate = (done - last_log_step) / max(now - last_log, 1e-9)
            scalars.update(steps_per_second=rate, tokens_per_second=rate * tokens_per_step,
                           tflops_per_device=rate * flops_per_step / 1e12 / jax.device_count())
            writer.write(done, scalars)
            bar.set_postfix(loss=f"{scalars['loss']:.4f}", steps_s=f"{rate:.2f}", refresh=False)
            _check_faults(window_flags=[bool(m["finite"]) for m in fetched],
                          streak=int(jax.device_get(state.bad_streak)), step=done,
                          limit=int(train_cfg.max_consecutive_bad_steps))
            window = []
            last_log, last_log_step = time.perf_counter(), done
            outside += last_log - t_log
        if done % train_cfg.checkpoint_every == 0 or done == end:
            t0 = time.perf_counter()
            checkpoint.save(mngr, state, iterator.get_state(), config)
            outside += time.perf_counter() - t0
        bar.update(1)
        if out_of_time:
            break
    jax.block_until_ready(state.step)
    wall = time.perf_counter() - begin
    bar.close()
    if trace is not None:
        trace.close()
    steps_run = end - start
    rate = steps_run / max(wall, 1e-9)
    return RunSummary(state, steps_run, wall, outside, rate, rate * tokens_per_step,
                      rate * flops_per_step / 1e12 / jax.device_count(), step_fn._cache_size())


def _work(config, batch) -> tuple[int, int]:
    """Tokens and model FLOPs of one global step (both streams)."""
    from unityvideo_jax.model.dit.spec import from_config

    spec = from_config(config.model)
    b, f, h, w, _ = batch["rgb"].shape
    pt, ph, pw = spec.patch_size
    grid = (f // pt, h // ph, w // pw)
    tokens = 2 * b * grid[0] * grid[1] * grid[2]
    return tokens, train_step_flops(spec, grid, 2, batch["text"].shape[1], b)


def _reduce(window: list[dict]) -> dict[str, float]:
    """Average a window of per-step metrics; per-task and per-modality losses from sums and counts."""
    finite = [m for m in window if bool(m["finite"])]
    out = {"skipped_steps": float(len(window) - len(finite))}
    if not finite:
        out["loss"] = float("nan")
        return out
    for key in ("loss", "loss_rgb", "loss_aux", "grad_norm"):
        out[key] = float(np.mean([m[key] for m in finite]))
    for kind, names in (("task", TASKS), ("modality", NAMES)):
        sums = np.sum([m[f"{kind}_loss_sum"] for m in finite], axis=0)
        counts = np.sum([m[f"{kind}_count"] for m in finite], axis=0)
        for name, s, c in zip(names, sums, counts):
            if c > 0:
                out[f"loss/{kind}/{name}"] = float(s / c)
    return out


def _check_faults(window_flags: list[bool], streak: int, step: int, limit: int) -> None:
    skipped = window_flags.count(False)
    if skipped:
        print(f"warning: {skipped} step(s) before step {step} had a non-finite loss or gradient and were skipped "
              f"({streak} in a row now)")
    longest, run = 0, 0
    for ok in window_flags:
        run = 0 if ok else run + 1
        longest = max(longest, run)
    if max(longest, streak) >= limit:
        raise TrainingStopped(
            f"{max(longest, streak)} steps in a row had a non-finite loss or gradient (limit "
            f"config.train.max_consecutive_bad_steps={limit}) at step {step}: check the data for NaN/Inf "
            "and lower config.train.lr"
        )
