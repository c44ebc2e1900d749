"""Training throughput on this machine: steps/s, tokens/s, model TFLOP/s and the share of wall time
spent outside the compiled step (data, logging, checkpointing).

Steps/s are steady-state: the difference of two resumed runs, so neither the step's compilation
nor the last checkpoint counts (before 2026-12-03 they did, which understated small models).

    python benchmarks/train_step.py [--configs tiny,small,demo] [--steps 60] [--data records|memory]

`records` trains from a UniSynth ArrayRecord set written first (what the demo does); `memory`
renders UniSynth clips on the fly (no files, slower data).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from unityvideo_jax import get_config  # noqa: E402
from unityvideo_jax.data.input.iterator import make_iterator  # noqa: E402
from unityvideo_jax.model.dit.summary import parameter_counts  # noqa: E402
from unityvideo_jax.train.loop import train  # noqa: E402

# name -> (config, model overrides); "demo" is `unityvideo demo`'s model and recipe as shipped
SIZES = {
    "tiny": ("tiny_paper", {}),
    "small": ("tiny_paper", dict(dim=128, ffn_dim=512, num_heads=4, num_layers=4)),
    "demo": ("demo", {}),
}


def run(name: str, steps: int, data: str, workdir: str) -> dict:
    config_name, overrides = SIZES[name]
    config = get_config(config_name)
    config.model.update(**overrides)
    config.parallel.devices = 1
    config.train.update(steps=steps, log_every=20, checkpoint_every=10**9)  # saves only at the ends
    if data == "records":
        from unityvideo_jax.data.records.unisynth_tfds import UniSynthConfig, build

        d = config.data
        builder = build(os.path.join(workdir, "data"), UniSynthConfig(
            name="bench", frames=d.frames, height=d.height, width=d.width, clips_per_family=32))
        config.data.path = str(builder.data_path)
    # Every train() call compiles its step and saves at its end: two resumed runs of `steps` and
    # 3 x `steps` steps differ by 2 x `steps` steady steps, which is what is timed.
    run_dir, make = os.path.join(workdir, name), lambda c, s: make_iterator(c, start_step=s)
    train(config, run_dir, make, progress=False)
    walls = []
    for length in (steps, 3 * steps):
        config.train.steps += length
        summary = train(config, run_dir, make, progress=False)
        walls.append(summary.wall_seconds)
    rate = 2 * steps / (walls[1] - walls[0])
    scale = rate / summary.steps_per_second
    return dict(config=name, params=sum(parameter_counts(config.model).values()), batch=config.data.global_batch,
                steps_s=rate, tokens_s=summary.tokens_per_second * scale, tflops=summary.tflops_per_device * scale,
                outside=summary.outside_seconds / summary.wall_seconds)


def main():
    # Every train() call compiles its step; a persistent cache makes the resumed runs load it instead,
    # so compile-time jitter does not enter the difference of two runs.
    jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="jax_cache_"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    p = argparse.ArgumentParser()
    p.add_argument("--configs", default="tiny,small,demo")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--data", default="records", choices=("records", "memory"))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.configs.split(","):
            rows.append(run(name, args.steps, args.data, workdir))
    print(f"jax {jax.__version__}, {jax.device_count()} device(s): {jax.devices()[0].device_kind}, data: {args.data}")
    print("| config | parameters | global batch | steps/s | tokens/s | model TFLOP/s | time outside the step |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['params']:,} | {r['batch']} | {r['steps_s']:.2f} | {r['tokens_s']:,.0f} | "
              f"{r['tflops']:.4f} | {r['outside']:.1%} |")


if __name__ == "__main__":
    main()
