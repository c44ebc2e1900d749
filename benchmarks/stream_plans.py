"""What several modalities in one pass cost: AOT plans of the 5B release for k = 1, 2, 4 aux streams.

    python benchmarks/stream_plans.py [--ks 1 2 4] [--only train sample] [--train-sizes 33x256x256:8 ...]
                                      [--chips v5e-1 v6e-1] [--sample-sizes 33x256x256 ...]

Needs the libtpu wheel that matches jax (`pip install -e .[tpu]`); nothing is allocated, nothing runs on
a TPU. `wan22_ti2v_5b_release` in bf16 with the splash kernel and the release's full remat, with
config.model.aux_streams = k (1 + k streams in the joint sequence; the weights are the same for any k):
  train   the trainer's full step (AdamW, EMA, remat, state donated; aot/plan.py) on a v5p-8 (4 chips,
          fsdp 4), the batch stacked as the loader feeds k streams (aux (B, k, ...), modality and present
          (B, k)); it fits when XLA's peak per chip is within the chip's HBM
  sample  one Euler step of the joint task on ONE chip (aot/sample_plan.py), bf16 weights, one forward
          (no guidance, as released), every stream generated; it fits with >= 10 % of the chip free (as
          the issue-16 plans); the floor of a video's denoising is 20 of these steps
Per plan: tokens per sample, analytic FLOPs per chip per step (model/dit/flops.py, remat's recomputation
included for training) and the ratio to k = 1, XLA's count (the scanned layers once), bytes per chip
(arguments, temporaries, peak = arguments + outputs - donated + temporaries + code) and the floor at the
chip's peak bf16 FLOP/s. Prints one markdown table, a row as each plan compiles.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unityvideo_jax.aot.plan import override, plan  # noqa: E402
from unityvideo_jax.aot.sample_plan import plan_sample  # noqa: E402
from unityvideo_jax.config import get_config  # noqa: E402

CONFIG = "wan22_ti2v_5b_release"
SLICE = "v5p-8"
STEPS = 20  # Euler steps a video, as the release samples
# video:global batch. 33x256x256 is the release's training size (batch 8 as in BENCHMARKS "Scale"); the larger
# sizes take the smallest batch fsdp 4 splits, one sample a chip.
TRAIN_SIZES = ("33x256x256:8", "81x480x832:4", "121x704x1280:4")
SAMPLE_SIZES = ("33x256x256", "81x480x832", "121x704x1280")

HEADER = (
    "| job | where | video | batch | k | tokens/sample | TFLOP/chip/step | x k=1 | XLA TFLOP/chip | arguments GB | "
    "temporaries GB | peak GB / HBM | fits | floor s/step | compile s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _config(size: str, k: int, **options):
    f, h, w = (int(x) for x in size.split("x"))
    return override(get_config(CONFIG), dict(options, frames=f, height=h, width=w, dtype="bfloat16",
                                             attention="splash", aux_streams=k))


def _xla(cost) -> str:
    return "-" if cost.refused else f"{cost.xla_flops / 1e12:,.1f}"


def _cells(cost, hbm: int, fits: bool) -> list[str]:
    if cost.refused:
        return ["-", f"asks {cost.temporaries / 1e9:.1f}", f"refused / {hbm / 1e9:.0f}", "**no** (refused)"]
    return [f"{cost.arguments / 1e9:.2f}", f"{cost.temporaries / 1e9:.2f}", f"{cost.peak / 1e9:.2f} / {hbm / 1e9:.0f}",
            "yes" if fits else "**no**"]


def train_row(size: str, k: int, base: dict) -> str:
    video, batch = size.split(":")
    config = _config(video, k, batch=int(batch), preset="fsdp", fsdp=4)
    start = time.perf_counter()
    p = plan(config, SLICE, sampler=False)
    seconds = time.perf_counter() - start
    base.setdefault(("train", video), p.train_flops)
    cells = ["train step", f"{SLICE} ({p.chips} chips, fsdp 4)", video, batch, str(k), f"{p.tokens:,}",
             f"{p.train_flops / 1e12:,.1f}", f"{p.train_flops / base[('train', video)]:.2f}",
             _xla(p.train), *_cells(p.train, p.hbm, p.step_fits(p.train)),
             f"{p.train_floor_s:.2f}", f"{seconds:.0f}"]
    return "| " + " | ".join(cells) + " |"


def sample_row(chip: str, video: str, k: int, base: dict) -> str:
    config = _config(video, k)
    start = time.perf_counter()
    p = plan_sample(config, chip, tasks=("joint",), text_config=None, decode=False)
    seconds = time.perf_counter() - start
    (stage,) = p.stages
    base.setdefault(("sample", chip, video), stage.flops)
    floor = stage.flops / p.peak_flops
    cells = ["denoise step (joint, 1 forward)", f"one {chip.split('-')[0]} chip", video, "1", str(k), f"{p.tokens:,}",
             f"{stage.flops / 1e12:,.1f}", f"{stage.flops / base[('sample', chip, video)]:.2f}",
             _xla(stage.cost), *_cells(stage.cost, p.hbm, stage.fits(p.hbm)),
             f"{floor:.2f} ({STEPS} steps: {STEPS * floor:.1f})", f"{seconds:.0f}"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 2, 4], help="aux streams per plan")
    parser.add_argument("--only", nargs="+", choices=("train", "sample"), default=["train", "sample"])
    parser.add_argument("--train-sizes", nargs="+", default=list(TRAIN_SIZES), help="FxHxW:global_batch")
    parser.add_argument("--chips", nargs="+", default=["v5e-1", "v6e-1"], help="chips for the sampling step")
    parser.add_argument("--sample-sizes", nargs="+", default=list(SAMPLE_SIZES))
    args = parser.parse_args()
    import jax
    import libtpu

    print(f"jax {jax.__version__}, libtpu {getattr(libtpu, '__version__', '?')}, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} CPUs", flush=True)
    print(HEADER, flush=True)
    jobs = []  # smaller sizes first: every size's k = 1, 2, 4 together
    for i in range(max(len(args.train_sizes), len(args.sample_sizes))):
        if "train" in args.only and i < len(args.train_sizes):
            jobs += [(train_row, (args.train_sizes[i], k)) for k in args.ks]
        if "sample" in args.only and i < len(args.sample_sizes):
            jobs += [(sample_row, (chip, args.sample_sizes[i], k)) for chip in args.chips for k in args.ks]
    base: dict = {}
    for row, job in jobs:
        try:
            print(row(*job, base), flush=True)
        except Exception as err:  # noqa: BLE001  one plan failing is a row, the others still run
            traceback.print_exc(limit=-4)
            print(f"| {row.__name__} {job} | FAILED: {type(err).__name__}: {str(err).splitlines()[0][:200]} |",
                  flush=True)


if __name__ == "__main__":
    main()
