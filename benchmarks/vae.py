"""Wan VAE encode/decode speed and memory: our JAX `WanVAE` against diffusers' `AutoencoderKLWan`.

    python benchmarks/vae.py [--sizes tiny,medium --variants wan21,wan22 --repeats 3]

Both run the same random weights on this CPU, each (size, variant, implementation) in its own
subprocess. Prints video frames/s (best of `--repeats`, after a warm-up that also compiles) and
the peak resident-memory growth during the timed calls, sampled from /proc every millisecond
(jax reports no memory stats on CPU; tracemalloc misses torch's allocator). 'jax' codes chunk by
chunk like diffusers (encode 1 + 4 + 4 ... frames, decode frame by frame); 'jax whole' codes the
whole video in one call. No assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SIZES = {  # name: (frames, height, width, base_dim, decoder_base_dim)
    "tiny": (9, 32, 32, 8, 12),
    "medium": (9, 64, 64, 32, 48),
}
VARIANTS = {
    "wan21": dict(z_dim=16),
    "wan22": dict(
        z_dim=48, is_residual=True, in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16
    ),
}
IMPLS = ("diffusers", "jax", "jax whole")
PAGE = os.sysconf("SC_PAGE_SIZE")
# Large buffers get their own mappings and go back to the OS when freed, so the resident-memory
# peak of a timed call reflects what it holds live (glibc would otherwise keep warm-up buffers).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakMemory:
    """Peak growth of resident memory over a block, sampled by a background thread."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _measure(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up; compiles for jax
    best = float("inf")
    with PeakMemory() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
    return best, memory.growth_mib


def _diffusers_model(size: str, variant: str):
    import torch
    from diffusers import AutoencoderKLWan

    _, _, _, base_dim, decoder_base_dim = SIZES[size]
    z_dim = VARIANTS[variant]["z_dim"]
    torch.manual_seed(0)
    kwargs = dict(VARIANTS[variant], base_dim=base_dim, latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)
    if variant == "wan22":
        kwargs["decoder_base_dim"] = decoder_base_dim
    return AutoencoderKLWan(**kwargs).eval()


def worker(size: str, variant: str, impl: str, repeats: int) -> dict:
    import numpy as np
    import torch

    frames, height, width, _, _ = SIZES[size]
    ref = _diffusers_model(size, variant)
    video = np.random.default_rng(0).uniform(-1, 1, (1, frames, height, width, 3)).astype(np.float32)
    if impl == "diffusers":
        torch_video = torch.from_numpy(video.transpose(0, 4, 1, 2, 3).copy())
        with torch.no_grad():
            latent = ref.encode(torch_video).latent_dist.mean
            encode = lambda: ref.encode(torch_video).latent_dist.mean  # noqa: E731
            decode = lambda: ref.decode(latent).sample  # noqa: E731
            encode_s, encode_mib = _measure(encode, repeats)
            decode_s, decode_mib = _measure(decode, repeats)
    else:
        import jax.numpy as jnp

        from unityvideo_jax.model.vae.config import config_from_diffusers
        from unityvideo_jax.model.vae.weights import vae_from_diffusers_tensors

        tensors = {name: t.detach().numpy() for name, t in ref.state_dict().items()}
        vae = vae_from_diffusers_tensors(config_from_diffusers(dict(ref.config)), tensors)
        del ref, tensors
        chunks = dict(encode=None, decode=None) if impl == "jax whole" else dict(encode=4, decode=1)
        jax_video = jnp.asarray(video)
        latent = vae.encode(jax_video, chunk_frames=chunks["encode"]).mean
        encode_s, encode_mib = _measure(
            lambda: vae.encode(jax_video, chunk_frames=chunks["encode"]).mean.block_until_ready(), repeats
        )
        decode_s, decode_mib = _measure(
            lambda: vae.decode(latent, chunk_frames=chunks["decode"]).block_until_ready(), repeats
        )
    return dict(
        encode_fps=frames / encode_s, encode_mib=encode_mib, decode_fps=frames / decode_s, decode_mib=decode_mib
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="tiny,medium")
    parser.add_argument("--variants", default="wan21,wan22")
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*json.loads(args.worker), args.repeats)))
        return
    for size, (_, _, _, base_dim, decoder_base_dim) in SIZES.items():
        print(f"{size}: base_dim {base_dim} (Wan2.2 decoder_base_dim {decoder_base_dim})")
    print(f"{'size':<7}{'variant':<8}{'video':<12}{'implementation':<15}"
          f"{'encode f/s':>11}{'enc +MiB':>10}{'decode f/s':>11}{'dec +MiB':>10}")  # fmt: skip
    for size in args.sizes.split(","):
        frames, height, width, _, _ = SIZES[size]
        for variant in args.variants.split(","):
            for impl in args.impls.split(","):
                spec = json.dumps([size, variant, impl])
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", spec, "--repeats", str(args.repeats)],
                    capture_output=True,
                    text=True,
                    env={**os.environ, **MALLOC_ENV},
                )
                label = f"{size:<7}{variant:<8}{f'{frames}x{height}x{width}':<12}{impl:<15}"
                if out.returncode:
                    print(label + "failed: " + out.stderr.strip().splitlines()[-1])
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(label + f"{r['encode_fps']:>11.1f}{r['encode_mib']:>10.1f}"
                      f"{r['decode_fps']:>11.1f}{r['decode_mib']:>10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
