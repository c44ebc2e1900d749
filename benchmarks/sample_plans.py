"""The published model's inference on ONE TPU chip, stage by stage, compiled on this host (libtpu AOT).

    python benchmarks/sample_plans.py [--chips v5e-1 v6e-1 v5p-8] [--sizes 33x256x256 49x384x384 ...]

For each chip: the whole plan at the release's size (33 x 256 x 256: text encoder, a guided denoise step
of each task, VAE decode; bytes per chip, share of HBM free, FLOPs, floor seconds per video), then the
larger sizes (denoise of one task and decode; every task costs the same), and the largest size whose
every stage fits with 10 % of the chip free. "v5p-8" plans one chip of it (a v5p chip is the smallest
v5p unit). Ends with one prompt per chip on a v5e-8 and a v6e-8. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unityvideo_jax.aot.plan import override  # noqa: E402
from unityvideo_jax.aot.sample_plan import HEADROOM, plan_sample  # noqa: E402
from unityvideo_jax.config import get_config  # noqa: E402

SIZES = ("33x256x256", "49x384x384", "81x480x832", "121x704x1280")


def _config(size: str):
    f, h, w = (int(x) for x in size.split("x"))
    return override(get_config("wan22_ti2v_5b_release"), dict(frames=f, height=h, width=w, dtype="bfloat16",
                                                              attention="splash"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", nargs="+", default=["v5e-1", "v6e-1", "v5p-8"])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    args = parser.parse_args()
    import jax
    import libtpu

    print(f"jax {jax.__version__}, libtpu {getattr(libtpu, '__version__', '?')}, {time.strftime('%Y-%m-%d')}")
    print("| chip | video | stage | GB per chip | free | TFLOP per call | calls | floor |")
    print("|---|---|---|---|---|---|---|---|")
    floors = {}
    for chip in args.chips:
        largest = None
        for i, size in enumerate(args.sizes):
            p = plan_sample(_config(size), chip, tasks=("joint", "estimate", "condition") if i == 0 else ("joint",))
            for s in p.stages:
                peak = "refused" if s.cost.refused else f"{s.cost.peak / 1e9:.2f}"
                print(f"| {chip} | {size} | {s.name} | {peak} | {s.free(p.hbm):.0%} | {s.flops / 1e12:,.1f} | {s.calls} | "
                      f"{s.seconds_floor:.2f} s |", flush=True)
            print(f"| {chip} | {size} | **per video** | - | {'all fit' if p.fits else 'NOT all fit'} | - | - | "
                  f"**{p.floor_s:.2f} s** |", flush=True)
            if i == 0:
                floors[chip] = p.floor_s
            if p.fits:
                largest = size
        print(f"| {chip} | largest that fits (>= {HEADROOM:.0%} free every stage) | {largest} | | | | | |", flush=True)
    for chip, slice_name in (("v5e-1", "v5e-8"), ("v6e-1", "v6e-8")):
        if chip in floors:
            print(f"{slice_name}, one prompt per chip at 33x256x256: {8 * 3600 / floors[chip]:,.0f} videos per hour at the floor")


if __name__ == "__main__":
    main()
