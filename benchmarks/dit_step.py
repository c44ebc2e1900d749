"""Forward + backward of UnityDiT against PyTorch on the same weights and the same CPU.

    python benchmarks/dit_step.py [--layers 4 --dim 256 --frames 4 --size 16 --batch 2 --repeats 15]
    python benchmarks/dit_step.py --demo [--repeats 15]

Default: the single-stream model against diffusers' `WanTransformer3DModel`. `--demo`: the demo's
geometry (configs/demo.py: two streams of 80 tokens, width 192, batch 8) against the PyTorch
two-stream module (`unityvideo_jax/convert/torch_model.py`) holding the same random weights.
The two steps are timed in alternating rounds (this VM's speed drifts by 10-30 % between minutes),
so the printed ratio is the median of the per-round ratios. Also prints achieved GFLOP/s (analytic
model FLOPs, unityvideo_jax/model/dit/flops.py) against a plain fp32 matmul's, measured in the same run.
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


def alternate(fns, rounds):
    """Per-round seconds of each function, the functions timed one after the other every round."""
    for fn in fns:
        fn(), fn()  # compile and warm
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [np.asarray(t) for t in times]


def matmul_gflops(n=1024, repeats=5):
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    sec = _time(lambda: f(a).block_until_ready(), repeats)
    return 2 * n**3 / sec / 1e9


def single_stream(args):
    """(JAX step, torch step, DiTSpec, token grid, streams, batch, text length, description, peer's name)."""
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
    def grad(params, x, t, text):
        def loss(params):
            v, _ = nnx.merge(graphdef, params)(x, None, t, None, text)
            return jnp.mean(v**2)
        return jax.grad(loss)(params)

    xs, ts, texts = jnp.asarray(x), jnp.asarray(t), jnp.asarray(text)
    tx = torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous()
    ttext, tt = torch.from_numpy(text), torch.from_numpy(1000 * t)

    def torch_step():
        ref.zero_grad(set_to_none=True)
        out = ref(tx, timestep=tt, encoder_hidden_states=ttext, return_dict=False)[0]
        (out**2).mean().backward()

    grid = (args.frames, args.size // 2, args.size // 2)
    describe = (f"single stream: {args.layers} layers, dim {args.dim}, {args.heads} heads, ffn {args.ffn}, "
                f"{np.prod(grid)} tokens x batch {args.batch}, text {args.text}")
    return (lambda: jax.block_until_ready(grad(params, xs, ts, texts)), torch_step, from_config(config), grid, 1,
            args.batch, args.text, describe, "diffusers WanTransformer3DModel")


def two_stream_demo(args):
    """The same for the demo's geometry, against the PyTorch two-stream module (TorchUnityDiT)."""
    import tempfile

    import torch
    from safetensors.torch import save_file

    from unityvideo_jax.convert.torch_checkpoint import load_torch_checkpoint
    from unityvideo_jax.convert.torch_model import TorchUnityDiT
    from unityvideo_jax.latents.shapes import latent_shape, token_grid

    config = get_config("demo")
    config.model.update(attention=args.attention, remat_policy=args.remat)
    torch.manual_seed(0)
    ref = TorchUnityDiT(config.model)
    with torch.no_grad():  # every parameter random, as a trained model's are
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "weights.safetensors")
        save_file(ref.release_state_dict(), path)
        model = load_torch_checkpoint(path, config, format="release")
    batch, text_len, m = int(config.data.global_batch), int(config.data.text_len), config.model
    rng = np.random.default_rng(0)
    shape = (batch, *latent_shape(config.data)[:3], m.in_channels)
    rgb, aux = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    text, aux_text = (rng.standard_normal((batch, text_len, m.text_dim)).astype(np.float32) for _ in range(2))
    t_rgb, t_aux = (rng.uniform(0.05, 0.95, batch).astype(np.float32) for _ in range(2))
    modality = rng.integers(0, m.num_modalities, batch).astype(np.int32)
    inputs = [jnp.asarray(a) for a in (rgb, aux, t_rgb, t_aux, text, aux_text, modality)]
    graphdef, params = nnx.split(model, nnx.Param)

    @jax.jit
    def grad(params, *inputs):
        def loss(params):
            v_rgb, v_aux = nnx.merge(graphdef, params)(*inputs)
            return jnp.mean(v_rgb**2) + jnp.mean(v_aux**2)
        return jax.grad(loss)(params)

    video = lambda a: torch.from_numpy(a).permute(0, 4, 1, 2, 3).contiguous()  # noqa: E731
    torch_inputs = (video(rgb), video(aux), torch.from_numpy(t_rgb), torch.from_numpy(t_aux),
                    torch.from_numpy(text), torch.from_numpy(aux_text), torch.from_numpy(modality).long())

    def torch_step():
        ref.zero_grad(set_to_none=True)
        v_rgb, v_aux = ref(*torch_inputs)
        ((v_rgb**2).mean() + (v_aux**2).mean()).backward()

    grid = token_grid(config)
    describe = (f"demo, two streams: {m.num_layers} layers, dim {m.dim}, {m.num_heads} heads, ffn {m.ffn_dim}, "
                f"2 x {np.prod(grid)} tokens x batch {batch}, text {text_len}")
    return (lambda: jax.block_until_ready(grad(params, *inputs)), torch_step, from_config(config.model), grid, 2,
            batch, text_len, describe, "PyTorch two-stream module (TorchUnityDiT)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--demo", action="store_true", help="the demo's two-stream geometry against TorchUnityDiT")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--text", type=int, default=32)
    p.add_argument("--repeats", type=int, default=15, help="alternating rounds")
    p.add_argument("--attention", default="xla")
    p.add_argument("--remat", default="none")
    args = p.parse_args()

    import torch

    jax_step, torch_step, spec, grid, streams, batch, text_len, describe, peer = (
        two_stream_demo if args.demo else single_stream)(args)
    jax_times, torch_times = alternate([jax_step, torch_step], args.repeats)
    jax_sec, torch_sec = float(np.median(jax_times)), float(np.median(torch_times))
    ratio = float(np.median(torch_times / jax_times))

    tokens = batch * streams * int(np.prod(grid))
    flops = train_step_flops(spec, grid, streams, text_len, batch)
    mm = matmul_gflops()
    print(f"{describe}; attention {args.attention}, remat {args.remat}; jax {jax.__version__}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}; medians of {args.repeats} alternating rounds")
    print("| implementation | step (ms) | tokens/s | GFLOP/s | share of matmul peak |")
    print("|---|---|---|---|---|")
    for name, sec in (("unityvideo_jax (JAX)", jax_sec), (peer, torch_sec)):
        print(f"| {name} | {sec * 1e3:.1f} | {tokens / sec:,.0f} | {flops / sec / 1e9:.1f} | "
              f"{flops / sec / 1e9 / mm:.0%} |")
    print(f"| plain fp32 matmul 1024^3 (jax) | | | {mm:.1f} | 100% |")
    low, high = np.percentile(torch_times / jax_times, [25, 75])
    print(f"JAX / PyTorch tokens/s ratio: {ratio:.2f} (median of per-round ratios; quartiles {low:.2f}-{high:.2f})")


if __name__ == "__main__":
    main()
