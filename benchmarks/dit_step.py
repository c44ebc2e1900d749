"""Forward + backward of UnityDiT (single stream) against diffusers' WanTransformer3DModel, same CPU.

    python benchmarks/dit_step.py [--layers 4 --dim 256 --frames 4 --size 16 --batch 2 --repeats 5]

Prints tokens/s of both, their ratio, achieved GFLOP/s (analytic model FLOPs, see
unityvideo_jax/model/dit/flops.py) and a plain fp32 matmul's GFLOP/s measured in the same run.
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
from flax import nnx  # noqa: E402

from unityvideo_jax import UnityDiT, get_config  # noqa: E402
from unityvideo_jax.convert.apply import load_tensors  # noqa: E402
from unityvideo_jax.convert.diffusers import TABLE  # noqa: E402
from unityvideo_jax.model.dit.flops import train_step_flops  # noqa: E402
from unityvideo_jax.model.dit.spec import from_config  # noqa: E402


def _time(fn, repeats):
    fn()  # warm-up / compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_gflops(n=1024, repeats=5):
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    sec = _time(lambda: f(a).block_until_ready(), repeats)
    return 2 * n**3 / sec / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--text", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--attention", default="xla")
    p.add_argument("--remat", default="none")
    args = p.parse_args()

    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    ref = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=args.heads, attention_head_dim=args.dim // args.heads,
        in_channels=args.channels, out_channels=args.channels, text_dim=64, freq_dim=64, ffn_dim=args.ffn,
        num_layers=args.layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    )
    config = get_config("tiny_paper").model
    config.update(dim=args.dim, num_heads=args.heads, ffn_dim=args.ffn, num_layers=args.layers,
                  in_channels=args.channels, out_channels=args.channels, text_dim=64, freq_dim=64,
                  two_stream=False, attention=args.attention, remat_policy=args.remat)
    model = UnityDiT(config, rngs=nnx.Rngs(0))
    load_tensors(model, {k: v.detach().numpy() for k, v in ref.state_dict().items()}, TABLE)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.frames, args.size, args.size, args.channels)).astype(np.float32)
    text = rng.standard_normal((args.batch, args.text, 64)).astype(np.float32)
    t = np.full((args.batch,), 0.5, np.float32)

    graphdef, params = nnx.split(model, nnx.Param)

    @jax.jit
    def jax_step(params, x, t, text):
        def loss(params):
            v, _ = nnx.merge(graphdef, params)(x, None, t, None, text)
            return jnp.mean(v**2)
        return jax.grad(loss)(params)

    xs, ts, texts = jnp.asarray(x), jnp.asarray(t), jnp.asarray(text)
    jax_sec = _time(lambda: jax.block_until_ready(jax_step(params, xs, ts, texts)), args.repeats)

    tx = torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous()
    ttext, tt = torch.from_numpy(text), torch.from_numpy(1000 * t)

    def torch_step():
        ref.zero_grad(set_to_none=True)
        out = ref(tx, timestep=tt, encoder_hidden_states=ttext, return_dict=False)[0]
        (out**2).mean().backward()

    torch_sec = _time(torch_step, args.repeats)

    spec = from_config(config)
    grid = (args.frames, args.size // 2, args.size // 2)
    tokens = args.batch * grid[0] * grid[1] * grid[2]
    flops = train_step_flops(spec, grid, 1, args.text, args.batch)
    mm = matmul_gflops()
    rows = [("unityvideo_jax (JAX)", jax_sec), ("diffusers (PyTorch)", torch_sec)]
    print(f"config: {args.layers} layers, dim {args.dim}, {args.heads} heads, ffn {args.ffn}, "
          f"{tokens // args.batch} tokens x batch {args.batch}, text {args.text}; "
          f"jax {jax.__version__}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| implementation | step (ms) | tokens/s | GFLOP/s | share of matmul peak |")
    print("|---|---|---|---|---|")
    for name, sec in rows:
        print(f"| {name} | {sec * 1e3:.1f} | {tokens / sec:,.0f} | {flops / sec / 1e9:.1f} | "
              f"{flops / sec / 1e9 / mm:.0%} |")
    print(f"| plain fp32 matmul 1024^3 (jax) | | | {mm:.1f} | 100% |")
    print(f"JAX / PyTorch tokens/s ratio: {torch_sec / jax_sec:.2f}")


if __name__ == "__main__":
    main()
