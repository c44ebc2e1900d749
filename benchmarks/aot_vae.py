"""AOT plans of Wan2.2 VAE decode on ONE TPU chip, compiled on this CPU host (issue 8).

    python benchmarks/aot_vae.py [--topology v5p-8 v5e-4] [--only 33x256x256 81x704x1280] [--no-whole]

Needs the libtpu wheel that matches jax (`pip install -e .[tpu]`). The Wan2.2 VAE (fp32 parameters,
bf16 compute) decodes a latent on one chip of each topology, compiled with abstract inputs
(aot/vae_plan.py): the whole video in one call, and one steady-state call of the causal loop
`WanVAE.decode(chunk_frames=1)` runs (one latent frame with its feature cache). Prints a markdown
table; `loop peak` is the call's peak plus the decoded frames held until the loop's concatenate.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unityvideo_jax.aot.vae_plan import plan_decode  # noqa: E402
from unityvideo_jax.model.vae.config import get_vae_config  # noqa: E402

# video frames x height x width -> its Wan2.2 latent (frames, h, w, z)
VIDEOS = {"33x256x256": (9, 16, 16, 48), "81x704x1280": (21, 44, 80, 48)}


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f}"


def _row(video: str, p) -> str:
    c = p.cost
    call = "whole" if p.kind == "whole" else f"chunk of {p.chunk_frames} (x{p.calls})"
    if c.refused:
        return (f"| {video} | {p.topology} | {call} | refused | | | asks {_gb(c.temporaries)} temp | | **no** | | | "
                f"{p.compile_s:.0f} |")
    floor = f"{p.floor_s:.2f}" if p.floor_s >= 0.1 else f"{p.floor_s * 1e3:.1f} ms"
    return (f"| {video} | {p.topology} | {call} | {_gb(c.arguments)} | {_gb(c.outputs)} | {_gb(c.temporaries)} | "
            f"{_gb(c.peak)} | {_gb(p.loop_peak)} / {p.hbm / 1e9:.0f} | {'yes' if p.fits else '**no**'} | "
            f"{c.xla_flops / 1e12:.2f} | {p.bytes_accessed / 1e9:.1f} | {floor} | {p.compile_s:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", nargs="+", default=["v5p-8", "v5e-4"])
    parser.add_argument("--only", nargs="+", choices=sorted(VIDEOS), default=list(VIDEOS))
    parser.add_argument("--no-whole", action="store_true", help="plan only the per-chunk call")
    parser.add_argument("--whole-max-frames", type=int, default=9,
                        help="skip the whole-video call above this many latent frames (compile time)")
    args = parser.parse_args()
    config = get_vae_config("wan22", dtype="bfloat16")
    print("| video | chip of | call | arguments GB | outputs GB | temporaries GB | call peak GB | loop peak / HBM GB "
          "| fits | TFLOP per call (XLA) | GB accessed per call | floor for the video s | compile s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for video in args.only:
        latent = VIDEOS[video]
        for topology in args.topology:
            chunks = [1]
            if not args.no_whole and latent[0] <= args.whole_max_frames:
                chunks = [None, 1]
            for chunk_frames in chunks:
                p = plan_decode(config, topology, latent, chunk_frames=chunk_frames)
                print(_row(video, p), flush=True)


if __name__ == "__main__":
    main()
