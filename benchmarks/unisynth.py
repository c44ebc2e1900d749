"""UniSynth rendering speed: clips/s per scene family, and the cost of the modality renderings.

    python benchmarks/unisynth.py [--small 6 --large 1]

Renders `--small` clips of 9 x 64 x 64 and `--large` clips of 33 x 256 x 256 per family (seeds
0, 1, ...) on one process and prints clips/s (the CPU may be shared: numbers are a floor), the
mean foreground share, and the time to render all five modality videos of one clip. Prints only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from unityvideo_jax import modalities  # noqa: E402
from unityvideo_jax.data.render import renderings
from unityvideo_jax.data.unisynth.clips import FAMILIES, render_clip  # noqa: E402

SIZES = {"9x64x64": (9, 64, 64), "33x256x256": (33, 256, 256)}


def _rate(family: str, count: int, frames: int, height: int, width: int) -> tuple[float, float, object]:
    """(clips/s, mean foreground share, last clip) over `count` seeds."""
    shares, clip = [], None
    start = time.perf_counter()
    for seed in range(count):
        clip = render_clip(family, seed, frames, height, width)
        shares.append(float((clip.instances > 0).mean()))
    return count / (time.perf_counter() - start), float(np.mean(shares)), clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=6, help="9x64x64 clips per family")
    parser.add_argument("--large", type=int, default=1, help="33x256x256 clips per family")
    args = parser.parse_args()
    counts = {"9x64x64": args.small, "33x256x256": args.large}
    header = f"{'family':<14}" + "".join(f"{name + ' clips/s':>22}" for name in SIZES)
    header += f"{'fg share':>10}{'5 modality videos (33x256)':>30}"
    print(header)
    print("-" * len(header))
    for family in FAMILIES:
        row, share, clip = f"{family:<14}", 0.0, None
        for name, (frames, height, width) in SIZES.items():
            rate, mean_share, clip = _rate(family, counts[name], frames, height, width)
            row += f"{rate:>22.2f}"
            share = mean_share if name == "9x64x64" else share
        start = time.perf_counter()
        for modality in modalities.NAMES:
            renderings.render(modality, clip)
        row += f"{share:>10.2f}{time.perf_counter() - start:>29.2f}s"
        print(row, flush=True)


if __name__ == "__main__":
    main()
