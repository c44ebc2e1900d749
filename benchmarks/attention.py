"""Attention kernels alone on this CPU: forward and forward + backward of each named kernel, and
PyTorch's fused scaled_dot_product_attention on the same shapes when torch is installed.

    python benchmarks/attention.py [--kernels xla,flash] [--shapes 2x256x4x64,8x160x3x64] [--rounds 15]

A shape is batch x tokens x heads x head width (self-attention). The kernels are compiled side by
side and timed in alternating rounds (this VM's speed drifts between minutes); medians are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from unityvideo_jax.attention.kernels import local_kernel  # noqa: E402


def jax_fns(name, q, k, v):
    kernel = local_kernel(name)
    forward = jax.jit(kernel)
    grad = jax.jit(jax.grad(lambda q, k, v: jnp.sum(kernel(q, k, v) ** 2), argnums=(0, 1, 2)))
    return (lambda: forward(q, k, v).block_until_ready(),
            lambda: jax.block_until_ready(grad(q, k, v)))


def torch_fns(q, k, v):
    import torch
    import torch.nn.functional as F

    tq, tk, tv = (torch.from_numpy(np.asarray(x)).permute(0, 2, 1, 3).contiguous().requires_grad_() for x in (q, k, v))

    def forward():
        with torch.no_grad():
            F.scaled_dot_product_attention(tq, tk, tv)

    def both():
        for x in (tq, tk, tv):
            x.grad = None
        (F.scaled_dot_product_attention(tq, tk, tv) ** 2).sum().backward()

    return forward, both


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kernels", default="xla,flash")
    p.add_argument("--shapes", default="2x256x4x64,8x160x3x64,2x1024x4x64")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args()
    names = args.kernels.split(",")
    print(f"jax {jax.__version__}; medians of {args.rounds} alternating rounds, ms")
    print("| shape (B x L x N x D) | implementation | forward | forward + backward |")
    print("|---|---|---|---|")
    for shape in args.shapes.split(","):
        b, length, n, d = (int(s) for s in shape.split("x"))
        rng = np.random.default_rng(0)
        q, k, v = (jnp.asarray(rng.standard_normal((b, length, n, d)), jnp.float32) for _ in range(3))
        fns = {name: jax_fns(name, q, k, v) for name in names}
        if not args.no_torch:
            try:
                fns["torch SDPA"] = torch_fns(q, k, v)
            except ImportError:
                pass
        for pair in fns.values():  # compile and warm
            pair[0](), pair[1]()
        times = {name: ([], []) for name in fns}
        for _ in range(args.rounds):
            for name, pair in fns.items():
                for fn, out in zip(pair, times[name]):
                    start = time.perf_counter()
                    fn()
                    out.append(time.perf_counter() - start)
        for name, (fwd, both) in times.items():
            print(f"| {shape} | {name} | {np.median(fwd) * 1e3:.2f} | {np.median(both) * 1e3:.2f} |")


if __name__ == "__main__":
    main()
