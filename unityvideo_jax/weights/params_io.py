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

from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.file_modes import match_umask
from unityvideo_jax.storage.paths import as_path, is_url
from unityvideo_jax.weights.tree import flatten, unflatten

PARAMS_ITEM = "params"
EMA_ITEM = "ema"
CONFIG_ITEM = "config"
FIRST_STEP = 0


def save_params(directory, model_or_params, config, *, ema=None) -> Path:
    """Write params (and optionally EMA params) plus `config` as step 0 of a new checkpoint directory.

    Locally the checkpoint is written beside `directory` and renamed into place when complete, so a
    failure leaves nothing at `directory`; in a bucket Orbax writes it in place and marks the step
    complete last (a failed save leaves no step a reader takes). An existing `directory` is an error
    (never merged). Returns the directory (a Path locally, an epath.Path for gs://).
    """
    directory = as_path(directory, "output")
    bucket.check(str(directory), write=True, what="output")
    with bucket.bucket_errors(str(directory), "read"):
        taken = directory.exists()
    if taken:
        raise ValueError(f"{directory} already exists: choose a new output directory or remove it")
    items = {PARAMS_ITEM: ocp.args.StandardSave(_pure(model_or_params))}
    if ema is not None:
        items[EMA_ITEM] = ocp.args.StandardSave(_pure(ema))
    items[CONFIG_ITEM] = ocp.args.JsonSave(_config_dict(config))
    options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False)
    if is_url(str(directory)):
        with bucket.bucket_errors(str(directory), "write"), _quiet(), \
                ocp.CheckpointManager(str(directory), options=options) as manager:
            manager.save(FIRST_STEP, args=ocp.args.Composite(**items))
            manager.wait_until_finished()
        return directory
    directory = Path(str(directory))
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
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
    """The config saved with the newest readable checkpoint step at `directory`."""
    def read(manager, step):
        restored = manager.restore(step, args=ocp.args.Composite(**{CONFIG_ITEM: ocp.args.JsonRestore()}))
        return ml_collections.ConfigDict(restored[CONFIG_ITEM])

    return _newest_readable(directory, read)


def has_item(directory, item: str) -> bool:
    """Whether the newest readable step at `directory` holds `item` (e.g. EMA_ITEM)."""
    return _newest_readable(directory, lambda manager, step: item in _items(manager, step))


def load_params(directory, abstract_state=None, shardings=None, *, item: str = PARAMS_ITEM) -> dict:
    """The `item` tree ("params" or "ema") of the newest readable step at `directory`, as nested dicts
    of jax arrays.

    abstract_state: the tree to restore into (e.g. nnx.state of an abstract model, or a pure dict
    of jax.ShapeDtypeStruct, dtypes cast on the way); None takes shapes and dtypes from the
    checkpoint. shardings: a matching tree of jax Shardings; None puts everything on the host's
    first CPU device, where `np.asarray` of a leaf is free.
    """
    def read(manager, step):
        items = _items(manager, step)
        if item not in items:
            raise MissingItem(
                f"checkpoint {directory} (step {step}) has no {item!r} item, only {sorted(items)}; "
                "pass a checkpoint that has it (a training run saves 'ema'; a converted one has only 'params')"
            )
        abstract = abstract_state
        if abstract is None:
            metadata = items[item]
            tree = metadata.tree if hasattr(metadata, "tree") else metadata
            abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype), tree)
        target = _with_shardings(_pure(abstract), shardings)
        restored = manager.restore(step, args=ocp.args.Composite(**{item: ocp.args.StandardRestore(target)}))
        return restored[item]

    return _newest_readable(directory, read)


class MissingItem(ValueError):
    """A readable step without the asked-for item: the caller's mistake, not damage (no fallback)."""


def _items(manager, step) -> dict:
    """{item: metadata} of a step; a step without readable parameters is damaged (every save has them)."""
    items = dict(manager.item_metadata(step))
    if items.get(PARAMS_ITEM) is None:
        raise ValueError(f"step {step} has no readable {PARAMS_ITEM!r} item")
    return {k: v for k, v in items.items() if v is not None or k == CONFIG_ITEM}


def _newest_readable(directory, read):
    """read(manager, step) of the newest step it succeeds on. A step that fails to read (a damaged or
    half-written folder) is reported once and the one before is tried; none readable is a ValueError."""
    manager, steps = _open(directory)
    failures = []
    with manager, _quiet():
        for step in steps:
            try:
                value = read(manager, step)
            except MissingItem:
                raise
            except Exception as err:  # noqa: BLE001  any failure to read a step means: try the one before
                failures.append(f"step {step}: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")
                continue
            if failures:
                print(f"warning: checkpoint {as_path(directory)}: {'; '.join(failures)}; "
                      f"using step {step}, the newest readable one")
            return value
    raise ValueError(
        f"no step of checkpoint {as_path(directory)} can be read ({'; '.join(failures)}): the folder is "
        "damaged; pass another checkpoint, or re-run `unityvideo convert` / training to write it again"
    )


def _open(directory):
    """(read-only manager, its steps newest first)."""
    directory = as_path(directory, "checkpoint")
    bucket.check(str(directory), write=False, what="checkpoint")  # a missing bucket or no access, named
    with bucket.bucket_errors(str(directory), "read"):
        found = directory.is_dir()
    if not found:
        raise ValueError(f"checkpoint directory {directory} does not exist; pass the output of `unityvideo convert`")
    handlers = {
        PARAMS_ITEM: ocp.StandardCheckpointHandler(),
        EMA_ITEM: ocp.StandardCheckpointHandler(),
        CONFIG_ITEM: ocp.JsonCheckpointHandler(),
    }
    with _quiet():
        options = ocp.CheckpointManagerOptions(read_only=True)
        manager = ocp.CheckpointManager(str(directory), options=options, item_handlers=handlers)
    steps = sorted(manager.all_steps(), reverse=True)
    if not steps:
        manager.close()
        raise ValueError(f"{directory} holds no Orbax checkpoint steps; pass the output of `unityvideo convert` or a training run")
    return manager, steps


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
