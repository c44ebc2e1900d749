"""How fast can the two-stream DiT learn to look across streams? A diagnostic for the demo.

    python benchmarks/cross_stream_copy.py [--frames 5] [--latent 16] [--heads 4] [--steps 1500] ...

Estimation needs every aux token to find the RGB token at its own (frame, row, column), which
sits W token columns to its left in the width-concatenated layout, through 3D RoPE alone. This
trains the tiny model on the purest form of that: estimate an aux stream that *is* the clean RGB
stream (random latents, constant over each 2x2 latent patch), flow matching with t ~ U(0, 1).
At t = 1 the aux input is pure noise, so the aux stream's x0 estimate there can only come from the
RGB stream: it reports that estimate's error relative to the data variance (1.0 = the prior, no
copy) and its correlation with the truth, every --every steps, with steps per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from unityvideo_jax import UnityDiT, get_config  # noqa: E402

BATCH, CHANNELS, TEXT_LEN = 8, 12, 4


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=5)
    p.add_argument("--latent", type=int, default=16, help="latent height and width (tokens: (latent / patch)^2 a frame)")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--patch", type=int, default=2, help="spatial patch size (the latents are constant over 2x2)")
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--qk-scale", type=float, default=1.0, help="initial gain of the qk RMSNorms (Wan: 1)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--every", type=int, default=100)
    args = p.parse_args()

    m = get_config("tiny_paper").model
    m.num_heads, m.dim, m.ffn_dim, m.rope_theta = args.heads, args.dim, 2 * args.dim, args.rope_theta
    m.patch_size = (1, args.patch, args.patch)
    model = UnityDiT(m, rngs=nnx.Rngs(0))
    for norm in (model.blocks.attn1.norm_q, model.blocks.attn1.norm_k):
        norm.scale[...] = norm.scale[...] * args.qk_scale
    optimizer = nnx.Optimizer(model, optax.adam(args.lr), wrt=nnx.Param)
    shape = (BATCH, args.frames, args.latent, args.latent, CHANNELS)
    text = jnp.zeros((BATCH, TEXT_LEN, m.text_dim))
    modality = jnp.zeros((BATCH,), jnp.int32)
    clean_t = jnp.zeros((BATCH,))

    def draw(key):
        k_x, k_eps, k_t = jax.random.split(key, 3)
        coarse = jax.random.normal(k_x, (BATCH, args.frames, args.latent // 2, args.latent // 2, CHANNELS))
        x = jax.image.resize(coarse, shape, "nearest")
        return x, jax.random.normal(k_eps, shape), jax.random.uniform(k_t, (BATCH,))

    @nnx.jit
    def train_step(model, optimizer, key):
        x, eps, t = draw(key)
        tb = t[:, None, None, None, None]
        noisy = (1 - tb) * x + tb * eps

        def loss_fn(model):
            _, v = model(x, noisy, clean_t, t, text, text, modality)
            return jnp.mean((v - (eps - x)) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def copy_at_noise(model, key):
        x, eps, _ = draw(key)
        _, v = model(x, eps, clean_t, jnp.ones((BATCH,)), text, text, modality)
        x0 = eps - v
        error = jnp.mean((x0 - x) ** 2) / jnp.var(x)
        corr = jnp.sum(x0 * x) / jnp.sqrt(jnp.sum(x0**2) * jnp.sum(x**2))
        return error, corr

    tokens = args.frames * (args.latent // args.patch) ** 2
    print(f"{tokens} tokens a stream, dim {args.dim}, {args.heads} heads (head dim {args.dim // args.heads}), "
          f"rope theta {args.rope_theta:g}, lr {args.lr:g}, qk gain {args.qk_scale:g}")
    print("| step | x0 error at t=1 (1 = prior) | corr(x0, truth) | s |")
    print("|---:|---:|---:|---:|")
    key, probe_key = jax.random.key(0), jax.random.key(99)
    start = time.perf_counter()
    for step in range(args.steps + 1):
        key, k = jax.random.split(key)
        train_step(model, optimizer, k)
        if step % args.every == 0:
            error, corr = copy_at_noise(model, probe_key)
            print(f"| {step} | {float(error):.3f} | {float(corr):.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
