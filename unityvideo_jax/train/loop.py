"""The training entry point: the mesh, the sharded state (fresh or resumed), the compiled step, and
the hooks the step runner calls (runner.py; hooks.py says how they fit together).

  reporting.py      metrics.jsonl / TensorBoard lines and the progress bar, every log_every steps
  faults.py         non-finite steps reported, too many in a row stop the run (TrainingStopped)
  checkpoint_hook.py a save every checkpoint_every steps and at the last step
  profiling.py      a JAX profiler trace of a few steps (profile=True)
  budget.py         the wall-clock budget (time_budget_s)
  data_trace.py     a fingerprint of every batch (record_batches=True)
"""

from __future__ import annotations

from typing import Callable

import jax
from flax import nnx
from flax.core import spmd as flax_spmd

from unityvideo_jax.latents.shapes import token_grid
from unityvideo_jax.model.dit.partner import init_partner_heads
from unityvideo_jax.model.dit.transformer import UnityDiT
from unityvideo_jax.parallel.batch import to_global
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules
from unityvideo_jax.parallel.sharding import shardings_like_params, state_shardings
from unityvideo_jax.parallel.validate import check_divisible, validate
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.full import StorageFull, storage_errors
from unityvideo_jax.storage.paths import join
from unityvideo_jax.train import checkpoint
from unityvideo_jax.train.budget import TimeBudgetHook
from unityvideo_jax.train.checkpoint_hook import CheckpointHook
from unityvideo_jax.train.constants import step_constants
from unityvideo_jax.train.data_trace import DataTraceHook
from unityvideo_jax.train.faults import FaultHook, TrainingStopped
from unityvideo_jax.train.hooks import Hook, Run
from unityvideo_jax.train.metrics import MetricsWriter
from unityvideo_jax.train.optimizer import make_optimizer
from unityvideo_jax.train.preemption import PreemptionHook
from unityvideo_jax.train.profiling import ProfileHook
from unityvideo_jax.train.reporting import MetricsHook
from unityvideo_jax.train.runner import RunSummary, StepRunner
from unityvideo_jax.train.state import create_state
from unityvideo_jax.train.step import make_train_step

__all__ = ["RunSummary", "StorageFull", "TrainingStopped", "sharded_state", "train"]


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
    bucket.check(workdir, write=True, what="workdir")  # a wrong bucket fails now, not at the first save
    optimizer = make_optimizer(config.train)
    writer = MetricsWriter(workdir, enabled=jax.process_index() == 0)
    mngr = checkpoint.manager(join(workdir, "checkpoints"), config.train.keep_checkpoints)
    constants = step_constants(config)  # text encoders build outside the mesh context
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        abstract, shardings, graphdef, make_model = sharded_state(config, mesh, rules, optimizer)
        run = Run(config, make_iterator(config, 0), start=0, end=int(config.train.steps))
        fresh = jax.jit(lambda: create_state(make_model(), optimizer, config.train.seed), out_shardings=shardings)
        run.state = _initial_state(run, mngr, abstract, fresh)
        run.start = int(jax.device_get(run.state.step))
        step_fn = jax.jit(make_train_step(graphdef, config, optimizer), donate_argnums=(0,),
                          out_shardings=(shardings, None))
        hooks = _hooks(config, workdir, mngr, writer, progress=progress, profile=profile,
                       record_batches=record_batches, time_budget_s=time_budget_s)
        with storage_errors(workdir, mngr.latest_step):
            summary = StepRunner(step_fn, constants, lambda local: to_global(local, mesh, rules), hooks).run(run)
    with storage_errors(workdir, mngr.latest_step):
        mngr.wait_until_finished()
    mngr.close()
    writer.close()
    return summary


def _initial_state(run: Run, mngr, abstract, fresh: Callable):
    """The newest readable checkpoint (with the iterator moved to its data state), else `fresh()`."""
    restored = checkpoint.restore_latest(mngr, abstract)
    if restored is None:
        return fresh()
    state, data_state, _ = restored
    run.iterator.set_state(checkpoint.data_state_of(data_state))
    return state


def _hooks(config, workdir: str, mngr, writer, *, progress: bool, profile: bool, record_batches: bool,
           time_budget_s: float | None) -> list[Hook]:
    """The run's hooks; after_step goes down the list, so a window is logged, then checked for faults
    (which stop the run before its checkpoint), then saved."""
    train_cfg = config.train
    hooks: list[Hook] = []
    if profile:
        hooks.append(ProfileHook(workdir))
    if record_batches:
        hooks.append(DataTraceHook(workdir, jax.process_index()))
    if time_budget_s is not None:
        hooks.append(TimeBudgetHook(time_budget_s))
    hooks.append(PreemptionHook())
    return hooks + [
        MetricsHook(writer, every=train_cfg.log_every, progress=progress, open_ended=bool(time_budget_s)),
        FaultHook(every=train_cfg.log_every, limit=train_cfg.max_consecutive_bad_steps),
        CheckpointHook(mngr, config, every=train_cfg.checkpoint_every),
    ]
