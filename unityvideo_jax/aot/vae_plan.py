"""AOT memory plans of Wan VAE decode on ONE chip of a TPU slice, compiled on this host.

Nothing is allocated: the VAE's fp32 parameters come from `nnx.eval_shape`, the latent and the
frame cache are ShapeDtypeStructs on one compile-only device of the slice (parallel/topology.py),
and the jitted decode call that `WanVAE.decode` runs (`vae.decode_chunk`) is lowered and compiled
by libtpu. Measurements reuse aot/cost.py (`measure`: bytes per chip from memory_analysis(),
FLOPs from cost_analysis(); a call XLA refuses for lack of HBM is reported with what it asked for).

Two kinds of call are planned:
  whole   `decode(latent, chunk_frames=None)`: every latent frame in one call.
  chunk   one call of the causal loop `decode(latent, chunk_frames=1)` runs: `chunk_frames` latent
          frames in, with the feature cache the previous chunk left (steady state, not the first
          chunk), out 4 * chunk_frames frames and the next cache.
The loop's peak is a chunk's peak plus the frames already decoded (held on device until the final
concatenate), or after the loop the concatenate, unpatchify and clip: two copies of the video.
There is no scan: XLA's FLOP count covers the whole call. The floor is the larger of FLOPs over
the chip's peak bf16 FLOP/s and XLA's bytes accessed over its HBM bandwidth.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from unityvideo_jax.aot.cost import StepCost, flop_count, gigabytes, measure, seconds
from unityvideo_jax.model.vae.autoencoder import WanVAE, decode_chunk
from unityvideo_jax.model.vae.config import WanVAEConfig
from unityvideo_jax.parallel.topology import parse, topology_devices

FP32_BYTES = 4


@dataclasses.dataclass(frozen=True)
class VAEDecodePlan:
    topology: str
    kind: str  # "whole" or "chunk"
    latent: tuple[int, int, int, int]  # latent frames, h, w, z of the whole video
    chunk_frames: int  # latent frames in this call
    video: tuple[int, int, int]  # decoded frames, height, width of the whole video
    hbm: int
    peak_flops: float
    hbm_bytes_per_s: float
    cost: StepCost
    bytes_accessed: float  # XLA's count for this call
    video_bytes: int  # the whole decoded video, fp32
    params_bytes: int
    compile_s: float = 0.0

    @property
    def calls(self) -> int:
        """Calls to decode the whole video (the first chunk counted as a full one)."""
        return 1 if self.kind == "whole" else math.ceil(self.latent[0] / self.chunk_frames)

    @property
    def chunk_video_bytes(self) -> int:
        return self.video_bytes * min(1.0, 4 * self.chunk_frames / self.video[0])

    @property
    def loop_peak(self) -> int:
        """Per-chip peak of the whole decode: the call's peak with the frames decoded before it held,
        or the concatenate/unpatchify after the loop (params, latent and two fp32 copies of the video)."""
        latent_bytes = FP32_BYTES * math.prod(self.latent)
        after = self.params_bytes + latent_bytes + 2 * self.video_bytes
        if self.kind == "whole":
            return max(self.cost.peak + latent_bytes, after)
        held = int(self.video_bytes - self.chunk_video_bytes)
        return max(self.cost.peak + held + latent_bytes, after)

    @property
    def fits(self) -> bool:
        return not self.cost.refused and self.loop_peak <= self.hbm

    @property
    def floor_s(self) -> float:
        """Roofline floor of the whole video: calls x max(compute, memory) time of one call."""
        one = max(self.cost.xla_flops / self.peak_flops, self.bytes_accessed / self.hbm_bytes_per_s)
        return self.calls * one


def _one_chip(topology: str):
    tpu = parse(topology)
    device = topology_devices(tpu)[0]
    mesh = Mesh([device], ("chip",))
    return tpu, NamedSharding(mesh, PartitionSpec())


def abstract_vae(config: WanVAEConfig):
    """(graphdef, state) of the VAE with ShapeDtypeStruct leaves: nothing allocated."""
    model = nnx.eval_shape(lambda: WanVAE(config, rngs=nnx.Rngs(0)))
    return nnx.split(model)


def _on(tree, sharding):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), tree)


def steady_cache(graphdef, state, latent_chunk):
    """The feature cache a chunk receives once the loop is past its first chunk (abstract)."""
    _, entries = jax.eval_shape(lambda s, z: decode_chunk(graphdef, s, z, None), state, latent_chunk)
    for _ in range(3):  # the cache's shapes settle after the first chunk or two
        _, after = jax.eval_shape(lambda s, z, e: decode_chunk(graphdef, s, z, e), state, latent_chunk, entries)
        if jax.tree.map(lambda a: a.shape, after) == jax.tree.map(lambda a: a.shape, entries):
            break
        entries = after
    return entries


def compile_decode(config: WanVAEConfig, latent_shape, sharding, *, chunk_frames: int | None):
    """Compile the decode call for one chip. latent_shape: (B, F, h, w, z) of the whole video.

    chunk_frames=None: the whole video in one call (frames only out). Otherwise one steady-state
    chunk of `chunk_frames` latent frames with its cache in, frames and the next cache out.
    """
    graphdef, state = abstract_vae(config)
    state = _on(state, sharding)
    b, f, h, w, z = latent_shape
    if chunk_frames is None:
        latent = jax.ShapeDtypeStruct((b, f, h, w, z), jnp.float32, sharding=sharding)
        step = jax.jit(lambda s, x: decode_chunk(graphdef, s, x, None)[0])
        return step.lower(state, latent).compile()
    latent = jax.ShapeDtypeStruct((b, chunk_frames, h, w, z), jnp.float32, sharding=sharding)
    entries = _on(steady_cache(graphdef, state, latent), sharding)
    step = jax.jit(lambda s, x, e: decode_chunk(graphdef, s, x, e))
    return step.lower(state, latent, entries).compile()


def plan_decode(config: WanVAEConfig, topology: str, latent: tuple[int, int, int, int], *,
                chunk_frames: int | None = None, batch: int = 1) -> VAEDecodePlan:
    """Compile and measure decode of a (frames, h, w, z) latent on one chip of `topology`."""
    import time

    tpu, sharding = _one_chip(topology)
    f, h, w, z = latent
    if z != config.z_dim:
        raise ValueError(f"latent has {z} channels, the VAE {config.z_dim}")
    s = config.spatial_stride
    video = (1 + config.temporal_stride * (f - 1), h * s, w * s)
    _, state = abstract_vae(config)
    params_bytes = sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(state))
    accessed = {}

    def compile_step(_config, _mesh):
        compiled = compile_decode(config, (batch, f, h, w, z), sharding, chunk_frames=chunk_frames)
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        accessed["bytes"] = float((cost or {}).get("bytes accessed", 0.0))
        return compiled

    start = time.perf_counter()
    cost = measure(compile_step, None, None)
    return VAEDecodePlan(
        topology=topology, kind="whole" if chunk_frames is None else "chunk", latent=latent,
        chunk_frames=f if chunk_frames is None else chunk_frames, video=video, hbm=tpu.chip.hbm_bytes,
        peak_flops=tpu.chip.peak_bf16_flops, hbm_bytes_per_s=tpu.chip.hbm_bytes_per_s, cost=cost,
        bytes_accessed=accessed.get("bytes", 0.0),
        video_bytes=batch * FP32_BYTES * config.video_channels * math.prod(video),
        params_bytes=int(params_bytes), compile_s=time.perf_counter() - start,
    )


def format_decode_plan(p: VAEDecodePlan) -> str:
    f, h, w = p.video
    what = "whole video in one call" if p.kind == "whole" else f"chunks of {p.chunk_frames} latent frame(s), {p.calls} calls"
    head = f"VAE decode {f} x {h} x {w} (latent {' x '.join(map(str, p.latent))}) on one chip of {p.topology}, {what}"
    c = p.cost
    if c.refused:
        return f"{head}\n  DOES NOT FIT: XLA asks for {gigabytes(c.temporaries)} of temporaries ({c.refused})"
    return (f"{head}\n  call: arguments {gigabytes(c.arguments)}, outputs {gigabytes(c.outputs)}, temporaries "
            f"{gigabytes(c.temporaries)}, peak {gigabytes(c.peak)}; loop peak {gigabytes(p.loop_peak)} of {gigabytes(p.hbm)} "
            f"({'fits' if p.fits else 'DOES NOT FIT'})\n"
            f"  {flop_count(c.xla_flops)} per call (XLA), {gigabytes(p.bytes_accessed)} accessed; floor for the video "
            f"{seconds(p.floor_s)}")


__all__ = ["VAEDecodePlan", "abstract_vae", "compile_decode", "format_decode_plan", "plan_decode", "steady_cache"]
