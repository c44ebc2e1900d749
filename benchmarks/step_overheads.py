"""What the input pipeline costs the compiled train step on this machine: the demo's jitted step fed
one fixed batch against fed fresh batches from the real iterator, timed in alternating rounds in one
process (this VM drifts 10-30 % between minutes, so only interleaved rounds compare).

    python benchmarks/step_overheads.py [--config demo] [--rounds 8] [--steps 40]

Rows (ms a step, median over rounds; x = the fixed batch's time over the row's):
  fixed batch      the same placed batch every step: the step alone, with async dispatch
  iterator         next(iterator) and placing it every step, Grain reading with its threads (the trainer)
  iterator, no threads  Grain reading in the calling thread (ReadOptions(num_threads=0))
  iterator, after the step  the same, but only once the previous step has finished (no overlap)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax.core import spmd as flax_spmd  # noqa: E402

from unityvideo_jax import get_config  # noqa: E402
from unityvideo_jax.data.input import iterator as iterator_lib  # noqa: E402
from unityvideo_jax.parallel.batch import to_global  # noqa: E402
from unityvideo_jax.parallel.mesh import make_mesh  # noqa: E402
from unityvideo_jax.parallel.rules import get_rules  # noqa: E402
from unityvideo_jax.train.constants import step_constants  # noqa: E402
from unityvideo_jax.train.loop import sharded_state  # noqa: E402
from unityvideo_jax.train.optimizer import make_optimizer  # noqa: E402
from unityvideo_jax.train.state import create_state  # noqa: E402
from unityvideo_jax.train.step import make_train_step  # noqa: E402


def iterator_with(config, threads: int, prefetch: int):
    """The trainer's iterator with Grain's read threads and prefetch set for this one iterator."""
    saved = iterator_lib.READ_THREADS, iterator_lib.PREFETCH_BATCHES
    iterator_lib.READ_THREADS, iterator_lib.PREFETCH_BATCHES = threads, prefetch
    try:
        return iterator_lib.make_iterator(config, start_step=0)
    finally:
        iterator_lib.READ_THREADS, iterator_lib.PREFETCH_BATCHES = saved


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="demo")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=40, help="steps a round")
    p.add_argument("--clips-per-family", type=int, default=64)
    args = p.parse_args()
    from unityvideo_jax.data.records.unisynth_tfds import UniSynthConfig, build

    config = get_config(args.config)
    config.parallel.devices = 1
    d = config.data
    with tempfile.TemporaryDirectory() as workdir:
        builder = build(workdir, UniSynthConfig(name="overheads", frames=d.frames, height=d.height, width=d.width,
                                                clips_per_family=args.clips_per_family))
        config.data.path = str(builder.data_path)
        mesh, rules = make_mesh(config.parallel), get_rules(config.parallel.preset)
        optimizer, constants = make_optimizer(config.train), step_constants(config)
        with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
            _, shardings, graphdef, make_model = sharded_state(config, mesh, rules, optimizer)
            state = jax.jit(lambda: create_state(make_model(), optimizer, 0), out_shardings=shardings)()
            step = jax.jit(make_train_step(graphdef, config, optimizer), donate_argnums=(0,),
                           out_shardings=(shardings, None))
            place = lambda batch: to_global(batch, mesh, rules)  # noqa: E731
            threaded, inline = iterator_with(config, 2, 2), iterator_with(config, 0, 0)
            fixed = place(next(threaded))
            state, _ = step(state, fixed, constants)
            jax.block_until_ready(state)

            def batch_of(mode):
                if mode == "fixed batch":
                    return fixed
                if mode == "iterator":
                    return place(next(threaded))
                if mode == "iterator, after the step":
                    jax.block_until_ready(state.step)
                return place(next(inline))

            modes = ("fixed batch", "iterator", "iterator, no threads", "iterator, after the step")
            times = {mode: [] for mode in modes}
            for _ in range(args.rounds):
                for mode in modes:
                    start = time.perf_counter()
                    for _ in range(args.steps):
                        state, _ = step(state, batch_of(mode), constants)
                    jax.block_until_ready(state)
                    times[mode].append((time.perf_counter() - start) / args.steps * 1e3)
    base = np.median(times[modes[0]])
    print(f"config {args.config}, batch {config.data.global_batch}, {args.rounds} rounds of {args.steps} steps; "
          f"jax {jax.__version__}")
    print("| feed | ms a step (median) | x | rounds |")
    print("|---|---|---|---|")
    for mode in modes:
        med = np.median(times[mode])
        print(f"| {mode} | {med:.1f} | {base / med:.2f} | {' '.join(f'{t:.0f}' for t in times[mode])} |")


if __name__ == "__main__":
    main()
