"""Checkpoints (Orbax CheckpointManager, async): the train state, the data iterator and the config.

Items of every step directory (the converter and exporter read the same names):
  params, ema, opt_state  the model's fp32 weights, their EMA, the optimiser state
  meta                    step, rng, bad-step counters
  data                    the data iterator's state (JSON)
  config                  the run's config (JSON)
Orbax finalises a step only when every item is written, so a crash mid-save leaves no step
behind; a step that is finalised but damaged later is reported and the one before it is used.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jax
import orbax.checkpoint as ocp

from unityvideo_jax.train.state import TrainState
from unityvideo_jax.weights.params_io import CONFIG_ITEM as CONFIG  # the names converters read too
from unityvideo_jax.weights.params_io import EMA_ITEM as EMA
from unityvideo_jax.weights.params_io import PARAMS_ITEM as PARAMS

OPT_STATE, META, DATA = "opt_state", "meta", "data"

log = logging.getLogger(__name__)


def manager(directory, keep: int, *, async_save: bool = True) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save, create=True)
    return ocp.CheckpointManager(directory, options=options)


def _meta(state: TrainState) -> dict:
    return dict(step=state.step, rng=state.rng, bad_steps=state.bad_steps, bad_streak=state.bad_streak)


def save(mngr: ocp.CheckpointManager, state: TrainState, data_state: Any, config) -> None:
    """Start saving `state` at its step (async: returns once the arrays are copied off device)."""
    step = int(jax.device_get(state.step))
    mngr.save(
        step,
        args=ocp.args.Composite(
            **{
                PARAMS: ocp.args.StandardSave(state.params),
                EMA: ocp.args.StandardSave(state.ema),
                OPT_STATE: ocp.args.StandardSave(state.opt_state),
                META: ocp.args.StandardSave(_meta(state)),
                DATA: ocp.args.JsonSave(_jsonable(data_state)),
                CONFIG: ocp.args.JsonSave(json.loads(config.to_json_best_effort())),
            }
        ),
    )


def restore_latest(mngr: ocp.CheckpointManager, target: TrainState):
    """(state, data_state, step) from the newest readable step, onto `target`'s shardings; None if none.

    `target` is an abstract or concrete state whose leaves carry the shardings to restore onto.
    """
    steps = sorted(mngr.all_steps(), reverse=True)
    for step in steps:
        try:
            return _restore(mngr, step, target) + (step,)
        except Exception as err:  # noqa: BLE001 - any failure to read a step means: try the one before
            log.warning("checkpoint step %d in %s cannot be restored (%s: %s); trying the one before",
                        step, mngr.directory, type(err).__name__, str(err).splitlines()[0][:200])
            print(f"warning: checkpoint step {step} is damaged ({type(err).__name__}); using the one before")
    return None


def _restore(mngr, step: int, target: TrainState):
    abstract = jax.tree.map(_abstract, target)
    meta = _meta(abstract)
    restored = mngr.restore(
        step,
        args=ocp.args.Composite(
            **{
                PARAMS: ocp.args.StandardRestore(abstract.params),
                EMA: ocp.args.StandardRestore(abstract.ema),
                OPT_STATE: ocp.args.StandardRestore(abstract.opt_state),
                META: ocp.args.StandardRestore(meta),
                DATA: ocp.args.JsonRestore(),
            }
        ),
    )
    m = restored[META]
    state = TrainState(
        step=m["step"],
        params=restored[PARAMS],
        opt_state=restored[OPT_STATE],
        ema=restored[EMA],
        rng=m["rng"],
        bad_steps=m["bad_steps"],
        bad_streak=m["bad_streak"],
    )
    return state, restored[DATA]


def _abstract(x):
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))


def _jsonable(data_state):
    """Grain iterator states are JSON-able dicts or bytes; keep either in a JSON object."""
    if isinstance(data_state, bytes):
        return {"bytes": data_state.decode("latin-1")}
    return {"state": data_state}


def data_state_of(saved: dict):
    return saved["bytes"].encode("latin-1") if "bytes" in saved else saved["state"]
