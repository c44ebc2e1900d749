"""AOT memory plans of the real configs on TPU slices, compiled on this CPU host (`unityvideo aot`).

    python benchmarks/aot_plans.py [--only NAME ...] [--no-sampler]

Needs the libtpu wheel that matches jax (`pip install -e .[tpu]`). Each plan compiles the full
train step (AdamW, EMA, remat, donated state) and one Euler step of joint sampling for the slice
with abstract inputs: nothing is allocated. Per chip it reports the peak bytes XLA plans
(arguments + outputs - donated + temporaries + code) against the chip's HBM, the analytic FLOPs
of a step (model/dit/flops.py, recomputation included) and the roofline floor they give at the
chip's peak bf16 FLOP/s; `at 136` is the same work at 136 TFLOP/s per chip, the rate maxdiffusion
reports for Wan2.1-14B training on v5p. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unityvideo_jax import get_config  # noqa: E402
from unityvideo_jax.aot.plan import override, plan  # noqa: E402

MAXDIFFUSION_FLOPS_PER_CHIP = 136e12

# name: (config, topology, options for `override`); 81 x 480 x 832 is Wan's 480p, 33 x 256 x 256 the release's size.
PLANS = {
    "release-5b": ("wan22_ti2v_5b_release", "v5p-8",
                   dict(batch=8, frames=33, height=256, width=256, preset="fsdp", fsdp=4, attention="splash")),
    "release-5b-dots": ("wan22_ti2v_5b_release", "v5p-8",
                        dict(batch=8, frames=33, height=256, width=256, preset="fsdp", fsdp=4, attention="splash",
                             remat="dots")),
    "paper-14b-ulysses": ("wan21_14b_paper", "v5p-64",
                          dict(batch=4, frames=81, height=480, width=832, preset="ulysses", fsdp=4, context=8,
                               attention="splash")),
    "paper-14b-ring": ("wan21_14b_paper", "v5p-64",
                       dict(batch=4, frames=81, height=480, width=832, preset="ring", fsdp=4, context=8,
                            attention="splash")),
    "paper-1.3b": ("wan21_1p3b_paper", "v5e-8",
                   dict(batch=2, frames=81, height=480, width=832, preset="ulysses", fsdp=2, context=4,
                        attention="splash", remat="full")),
}


def _row(name: str, p, seconds: float) -> str:
    mesh = " x ".join(f"{k} {v}" for k, v in p.mesh.items() if v > 1)
    f, h, w = p.video
    train, sampler = p.train, p.sampler
    cells = [
        name, p.config, f"{p.topology} ({p.chips})", f"{mesh}, {p.preset}, {p.attention}", p.remat,
        f"{p.batch} x {f}x{h}x{w}", f"{p.tokens:,}",
        "refused" if train.refused else f"{train.arguments / 1e9:.1f} + {train.temporaries / 1e9:.1f}",
        f"{train.peak / 1e9:.1f} / {p.hbm / 1e9:.0f}", "yes" if p.step_fits(train) else "**no**",
        f"{p.train_flops / 1e15:.3f}", f"{p.train_floor_s:.2f}",
        f"{p.train_flops / MAXDIFFUSION_FLOPS_PER_CHIP:.2f}",
        "-" if sampler is None else f"{sampler.peak / 1e9:.1f}",
        "-" if sampler is None else f"{p.sampler_floor_s:.2f}",
        f"{seconds:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| plan | config | slice (chips) | mesh, preset, attention | remat | batch x video | tokens/sample | "
    "train GB/chip: state + temporaries | train peak GB/chip / HBM | fits | train PFLOP/chip | floor s/step | "
    "at 136 TFLOP/s s/step | sampler step peak GB/chip | sampler floor s/step | compile s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(PLANS), help="plans to compile (default: all)")
    parser.add_argument("--no-sampler", action="store_true", help="compile only the train steps")
    args = parser.parse_args()
    print(HEADER, flush=True)
    for name in args.only or PLANS:
        config_name, topology, options = PLANS[name]
        config = override(get_config(config_name), dict(options, dtype="bfloat16"))
        start = time.perf_counter()
        result = plan(config, topology, sampler=not args.no_sampler)
        print(_row(name, result, time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
