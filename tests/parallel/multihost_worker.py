"""One process of test_multihost.py: train the tiny config on this host's rows of every batch.

    python multihost_worker.py WORKDIR OUT.npz STEPS RESUME_AT

Multi-process when JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID are set (as the
CLI does, through parallel/distributed.py). The run stops at RESUME_AT with a checkpoint, and a
second `train` call restores it on every host and goes on to STEPS. RESUME_AT 0: only the second
call, resuming whatever checkpoint WORKDIR holds (one written by another number of processes). Process 0 writes the final
parameters, gathered from all hosts, to OUT.npz.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from unityvideo_jax.parallel.distributed import initialize  # noqa: E402

initialize()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402

from tests.train.fake_data import SyntheticBatches  # noqa: E402
from unityvideo_jax import get_config  # noqa: E402
from unityvideo_jax.parallel.batch import host_shard  # noqa: E402
from unityvideo_jax.train.loop import train  # noqa: E402

GLOBAL_BATCH = 4


class HostRows:
    """This host's row block of the deterministic global batches (with the iterator's state)."""

    def __init__(self, config, process_index: int, process_count: int):
        self.batches = SyntheticBatches(config, batch=GLOBAL_BATCH)
        self.index, self.count = process_index, process_count

    def __next__(self):
        batch = next(self.batches)
        rows = GLOBAL_BATCH // self.count
        return {k: v[self.index * rows:(self.index + 1) * rows] for k, v in batch.items()}

    def get_state(self):
        return self.batches.get_state()

    def set_state(self, state):
        self.batches.set_state(state)


def tiny_config():
    config = get_config("tiny_paper")
    config.data.text_len = 16
    config.data.global_batch = GLOBAL_BATCH
    config.parallel.update(preset="fsdp", data=1, fsdp=-1, context=1, tensor=1)
    config.train.update(lr=1e-3, warmup_steps=0, log_every=1)
    return config


def main(workdir: str, out: str, steps: int, resume_at: int) -> None:
    jax.config.update("jax_default_matmul_precision", "highest")
    # the resumed run compiles the same step again: let the persistent cache answer
    cache = os.environ.get("UNITYVIDEO_TEST_CACHE") or os.path.join(workdir, "compile_cache")
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    config = tiny_config()
    config.train.checkpoint_every = resume_at if resume_at > 0 else 1000
    shard = host_shard(config)
    rows = lambda c, start: HostRows(c, **shard)  # noqa: E731
    for stop in ((resume_at, steps) if resume_at > 0 else (steps,)):
        config.train.steps = stop
        summary = train(config, workdir, rows, progress=False)
        state = summary.state
    if summary.preempted:  # what `unityvideo train` does on a preemption notice
        print(f"preempted at step {int(state.step)}", flush=True)
        sys.exit(75)
    params = multihost_utils.process_allgather(state.params, tiled=True)
    print(f"processes {jax.process_count()}, devices {jax.device_count()}, rows {shard}, step {int(state.step)}")
    if jax.process_index() == 0:
        flat = jax.tree_util.tree_flatten_with_path(params)[0]
        np.savez(out, **{jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
