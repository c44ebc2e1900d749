"""Parameters in an Orbax checkpoint laid out like a training checkpoint, so the trainer starts from it.

    directory/0/params   the parameters: nnx.to_pure_dict(nnx.state(model, nnx.Param))
    directory/0/ema      (optional) EMA parameters, the same tree
    directory/0/config   the full config as JSON

The trainer restores `params` (and `ema` when present) under these same item names from its own
checkpoints; `load_params` reads either kind, always from the latest step.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import jax
import ml_collections
import orbax.checkpoint as ocp
from flax import nnx

from unityvideo_jax.weights.file_modes import match_umask
from unityvideo_jax.weights.tree import flatten, unflatten

PARAMS_ITEM = "params"
EMA_ITEM = "ema"
CONFIG_ITEM = "config"
FIRST_STEP = 0


def save_params(directory, model_or_params, config, *, ema=None) -> Path:
    """Write params (and optionally EMA params) plus `config` as step 0 of a new checkpoint directory.

    The checkpoint is written beside `directory` and renamed into place when complete, so a
    failure leaves nothing at `directory`. An existing `directory` is an error (never merged).
    """
    directory = Path(directory).absolute()
    if directory.exists():
        raise ValueError(f"{directory} already exists: choose a new output directory or remove it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    items = {PARAMS_ITEM: ocp.args.StandardSave(_pure(model_or_params))}
    if ema is not None:
        items[EMA_ITEM] = ocp.args.StandardSave(_pure(ema))
    items[CONFIG_ITEM] = ocp.args.JsonSave(_config_dict(config))
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False)
        with _quiet(), ocp.CheckpointManager(staging, options=options) as manager:
            manager.save(FIRST_STEP, args=ocp.args.Composite(**items))
            manager.wait_until_finished()
        match_umask(staging, directory=True)
        os.rename(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def load_config(directory) -> ml_collections.ConfigDict:
    """The config saved with the checkpoint at `directory`."""
    manager, step = _open(directory)
    with manager, _quiet():
        restored = manager.restore(step, args=ocp.args.Composite(**{CONFIG_ITEM: ocp.args.JsonRestore()}))
    return ml_collections.ConfigDict(restored[CONFIG_ITEM])


def has_item(directory, item: str) -> bool:
    """Whether the latest step at `directory` holds `item` (e.g. EMA_ITEM)."""
    manager, step = _open(directory)
    with manager, _quiet():
        return item in manager.item_metadata(step)


def load_params(directory, abstract_state=None, shardings=None, *, item: str = PARAMS_ITEM) -> dict:
    """The `item` tree ("params" or "ema") of the latest step at `directory`, as nested dicts of jax arrays.

    abstract_state: the tree to restore into (e.g. nnx.state of an abstract model, or a pure dict
    of jax.ShapeDtypeStruct, dtypes cast on the way); None takes shapes and dtypes from the
    checkpoint. shardings: a matching tree of jax Shardings; None puts everything on the host's
    first CPU device, where `np.asarray` of a leaf is free.
    """
    manager, step = _open(directory)
    with manager, _quiet():
        items = manager.item_metadata(step)
        if item not in items:
            raise ValueError(
                f"checkpoint {directory} (step {step}) has no {item!r} item, only {sorted(items)}; "
                "pass a checkpoint that has it (a training run saves 'ema'; a converted one has only 'params')"
            )
        if abstract_state is None:
            metadata = items[item]
            tree = metadata.tree if hasattr(metadata, "tree") else metadata
            abstract_state = jax.tree.map(lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype), tree)
        target = _with_shardings(_pure(abstract_state), shardings)
        restored = manager.restore(step, args=ocp.args.Composite(**{item: ocp.args.StandardRestore(target)}))
    return restored[item]


def _open(directory):
    directory = Path(directory).absolute()
    if not directory.is_dir():
        raise ValueError(f"checkpoint directory {directory} does not exist; pass the output of `unityvideo convert`")
    handlers = {
        PARAMS_ITEM: ocp.StandardCheckpointHandler(),
        EMA_ITEM: ocp.StandardCheckpointHandler(),
        CONFIG_ITEM: ocp.JsonCheckpointHandler(),
    }
    with _quiet():
        options = ocp.CheckpointManagerOptions(read_only=True)
        manager = ocp.CheckpointManager(directory, options=options, item_handlers=handlers)
    step = manager.latest_step()
    if step is None:
        manager.close()
        raise ValueError(f"{directory} holds no Orbax checkpoint steps; pass the output of `unityvideo convert` or a training run")
    return manager, step


def _pure(tree) -> dict:
    if isinstance(tree, nnx.Module):
        tree = nnx.state(tree, nnx.Param)
    if isinstance(tree, nnx.State):
        tree = nnx.to_pure_dict(tree)
    return unflatten(flatten(tree))  # plain nested dicts, whatever mapping type came in


def _with_shardings(abstract: dict, shardings) -> dict:
    if shardings is None:
        cpu = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=cpu), abstract)
    flat_shardings = flatten(_pure(shardings))
    flat = flatten(abstract)
    missing = sorted(set(flat) - set(flat_shardings))
    if missing:
        raise ValueError(f"shardings lack entries for parameters {missing[:3]}; pass one sharding per parameter")
    return unflatten(
        {k: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=flat_shardings[k]) for k, a in flat.items()}
    )


def _config_dict(config) -> dict:
    values = json.loads(config.to_json_best_effort()) if hasattr(config, "to_json_best_effort") else dict(config)
    return values if "model" in values else {"model": values}


class _quiet:
    """Orbax logs each step at WARNING/INFO through absl; a one-off conversion needs none of it."""

    def __enter__(self):
        self.logger = logging.getLogger("absl")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
