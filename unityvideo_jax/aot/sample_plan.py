"""AOT plans of inference on ONE TPU chip: the published model's stages, each compiled on this host
for one chip of a slice (libtpu), measured, and the floor of a whole video.

The stages run one after the other, each with only its own weights on the chip (the previous stage's
freed; what passes between them is a few MB of embeddings and latents):
  text encoder   umT5 on the prompt and the empty caption (B = 2 x 512 tokens), bf16 weights
  denoise        one Euler step of a task, bf16 DiT weights: one forward (the release samples without
                 guidance, config.infer.guidance = 1), or with guidance the conditional and the
                 unconditional forward as one batch of 2 (as Pipeline does)
  VAE decode     the whole video in causal chunks of one latent frame (vae_plan.py), fp32 weights
Staged (Pipeline.from_release on a chip too small for all weights at once), the pipeline places each
stage's weights only for its calls, the VAE's too (it also encodes input videos, a smaller call).
Per stage: bytes per chip (aot/cost.py: arguments + outputs - donated + temporaries + code), the
headroom left of the chip's HBM, and FLOPs. The floor of a video is the sum over stages of FLOPs
over the chip's peak bf16 FLOP/s (the VAE's also over its bytes over HBM bandwidth), with the
denoise step run config.infer.steps times (20 Euler steps, as the release samples). The DiT's FLOPs are the
analytic count (model/dit/flops.py: XLA counts the scanned layers once); the text encoder's and the
VAE's are XLA's (no scan).

Several modalities in one pass (config.model.aux_streams = k > 1, `Pipeline.run_streams`): the denoise
step takes aux (1, k, F, H, W, C) stacked, one modality prompt and id per stream, every stream present;
its tokens grow (1 + k)x. The decode stage stays one video's decode; a joint run of k modalities decodes
1 + k videos (`SamplePlan.joint_floor_s`), an estimate k, a condition 1 (`floor_s`, as before).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx
import ml_collections
from flax.core import spmd as flax_spmd
from jax.sharding import NamedSharding, PartitionSpec

from unityvideo_jax.aot.cost import StepCost, flop_count, gigabytes, measure, seconds, stream_words
from unityvideo_jax.aot.vae_plan import plan_decode
from unityvideo_jax.diffusion.samplers import sample
from unityvideo_jax.diffusion.tasks import TASKS
from unityvideo_jax.latents.shapes import latent_shape, token_grid
from unityvideo_jax.model.dit.flops import forward_flops, streams_of
from unityvideo_jax.model.dit.spec import from_config
from unityvideo_jax.model.dit.transformer import UnityDiT
from unityvideo_jax.model.text.umt5 import UMT5_XXL, UMT5Encoder
from unityvideo_jax.model.vae.config import get_vae_config
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules
from unityvideo_jax.parallel.topology import parse, topology_devices

HEADROOM = 0.10  # a stage "fits" with at least this share of the chip's HBM free
GUIDED_BATCH = 2  # conditional + unconditional forward


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    kind: str  # "text", "denoise" (one per task; a video runs one task) or "decode"
    cost: StepCost
    flops: float  # per call
    calls: int  # per video
    seconds_floor: float  # per video, all calls

    def free(self, hbm: int) -> float:
        return 1.0 - self.cost.peak / hbm if not self.cost.refused else -1.0

    def fits(self, hbm: int) -> bool:
        return not self.cost.refused and self.free(hbm) >= HEADROOM


@dataclasses.dataclass(frozen=True)
class SamplePlan:
    config: str
    topology: str
    video: tuple[int, int, int]
    tokens: int  # all 1 + k streams, per sample
    hbm: int
    peak_flops: float
    stages: tuple[Stage, ...]
    streams: int = 2  # RGB plus config.model.aux_streams aux streams

    @property
    def fits(self) -> bool:
        return all(s.fits(self.hbm) for s in self.stages)

    @property
    def floor_s(self) -> float:
        """Seconds per video on one chip, at best: text once, config.infer.steps denoise steps of the costliest task
        (all cost the same: both streams go through the model), one decode."""
        denoise = [s.seconds_floor for s in self.stages if s.kind == "denoise"]
        return sum(s.seconds_floor for s in self.stages if s.kind != "denoise") + max(denoise, default=0.0)

    @property
    def joint_floor_s(self) -> float:
        """`floor_s` of a joint run: every stream generated, so 1 + k videos decoded (RGB and each aux)."""
        decode = sum(s.seconds_floor for s in self.stages if s.kind == "decode")
        return self.floor_s + (self.streams - 1) * decode


def _one_chip(config, topology: str):
    """(slice, a one-device mesh of the config's axes on its first chip, the replicated sharding)."""
    tpu = parse(topology)
    parallel = ml_collections.ConfigDict(config.parallel.to_dict())
    parallel.update(devices=1, data=1, fsdp=1, context=1, tensor=1)
    mesh = make_mesh(parallel, topology_devices(tpu)[:1])
    return tpu, mesh, NamedSharding(mesh, PartitionSpec())


def _abstract(tree, dtype, sharding):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, dtype or a.dtype, sharding=sharding), tree)


def compile_text_encoder(sharding, config=UMT5_XXL, text_len: int = 512):
    model = nnx.eval_shape(lambda: UMT5Encoder(config, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.graphdef(model), nnx.to_pure_dict(nnx.state(model))
    state = _abstract(state, jnp.bfloat16, sharding)
    ids = jax.ShapeDtypeStruct((GUIDED_BATCH, text_len), jnp.int32, sharding=sharding)
    mask = jax.ShapeDtypeStruct((GUIDED_BATCH, text_len), jnp.bool_, sharding=sharding)
    return jax.jit(lambda s, i, m: nnx.merge(graphdef, s)(i, m)).lower(state, ids, mask).compile()


def compile_denoise_step(config, sharding, task: str):
    """One Euler step of `task` for one video (guided when config.infer.guidance != 1), bf16 weights
    on one chip; with config.model.aux_streams = k > 1 the aux streams come stacked (1, k, ...), all
    present (as `Pipeline.run_streams` runs them: the task says which are generated)."""
    guidance = float(config.infer.guidance)
    model = nnx.eval_shape(lambda: UnityDiT(config.model, rngs=nnx.Rngs(0)))
    # a pure dict, merged inside the sampler's loop (as Pipeline does): NNX variables must not cross trace levels
    graphdef, params = nnx.graphdef(model), nnx.to_pure_dict(nnx.state(model, nnx.Param))
    params = _abstract(params, jnp.bfloat16, sharding)
    video = (1,) + latent_shape(config.data)
    text = (1, int(config.data.text_len), int(config.model.text_dim))
    arrays = dict(rgb=(video, jnp.float32), aux=(video, jnp.float32), text=(text, jnp.float32),
                  empty=(text[1:], jnp.float32), aux_text=(text, jnp.float32), modality=((1,), jnp.int32))
    aux_streams = int(config.model.get("aux_streams", 1))
    if aux_streams > 1:
        stacked = (1, aux_streams)
        arrays.update(aux=(stacked + video[1:], jnp.float32), aux_text=(stacked + text[1:], jnp.float32),
                      modality=(stacked, jnp.int32))
    inputs = {k: jax.ShapeDtypeStruct(s, d, sharding=sharding) for k, (s, d) in arrays.items()}

    def step(p, rgb, aux, text, empty, aux_text, modality):
        def velocity(r, a, t_r, t_a):
            model = nnx.merge(graphdef, p)
            if guidance == 1.0:
                return model(r, a, t_r, t_a, text, aux_text, modality)
            two = lambda x: jnp.concatenate([x, x], axis=0)  # noqa: E731
            texts = jnp.concatenate([text, jnp.broadcast_to(empty, text.shape)])
            v_r, v_a = model(two(r), two(a), two(t_r), two(t_a), texts, two(aux_text), two(modality))
            mix = lambda v: v[1:] + guidance * (v[:1] - v[1:])  # noqa: E731
            return mix(v_r), mix(v_a)

        return sample(velocity, rgb, aux, task, jax.random.key(0), steps=1)

    return jax.jit(step).lower(params, *inputs.values()).compile()


def _on_chip(mesh, config, compile_fn, *args):
    """`compile_fn(*args)` under the one-chip mesh and the config's logical axis rules."""
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(get_rules(config.parallel.preset)):
        return compile_fn(*args)


def plan_sample(config, topology: str, *, tasks=TASKS, text_config=UMT5_XXL, decode: bool = True) -> SamplePlan:
    """Compile and measure each inference stage of `config` at its data size on one chip of `topology`.
    `text_config` None leaves out the text encoder, `decode` False the VAE decode (e.g. to plan only the
    denoise step, the one stage config.model.aux_streams changes)."""
    tpu, mesh, sharding = _one_chip(config, topology)
    peak = tpu.chip.peak_bf16_flops
    stages = []
    if text_config is not None:
        cost = measure(lambda *_: _on_chip(mesh, config, compile_text_encoder, sharding, text_config), None, None)
        name = "umT5-XXL" if text_config == UMT5_XXL else f"umT5 {text_config.d_model} wide"
        stages.append(Stage(f"text encoder ({name}, 2 x 512 tokens)", "text", cost, cost.xla_flops, 1,
                            cost.xla_flops / peak))
    spec, grid = from_config(config.model), token_grid(config)
    streams = streams_of(spec)
    forward = forward_flops(spec, grid, streams, int(config.data.text_len))
    steps, guided = int(config.infer.steps), float(config.infer.guidance) != 1.0
    for task in tasks:
        cost = measure(lambda *_: _on_chip(mesh, config, compile_denoise_step, config, sharding, task), None, None)
        flops = (GUIDED_BATCH if guided else 1) * forward
        how = f"guided {config.infer.guidance:g}: 2 forwards" if guided else "no guidance, as released: 1 forward"
        stages.append(Stage(f"denoise step, {task} ({how})", "denoise", cost, flops, steps, steps * flops / peak))
    if decode:
        vae = get_vae_config(config.data.get("vae_config", "") or config.data.latent)
        chunks = plan_decode(vae, topology, latent_shape(config.data), chunk_frames=1)
        held = chunks.loop_peak - chunks.cost.peak  # the frames decoded before, held until the end
        loop = dataclasses.replace(chunks.cost, temporaries=chunks.cost.temporaries + held)
        stages.append(Stage(f"VAE decode ({chunks.calls} chunks of 1 latent frame)", "decode", loop,
                            chunks.cost.xla_flops, chunks.calls, chunks.floor_s))
    return SamplePlan(config=config.name, topology=topology,
                      video=(int(config.data.frames), int(config.data.height), int(config.data.width)),
                      tokens=streams * grid[0] * grid[1] * grid[2], hbm=tpu.chip.hbm_bytes, peak_flops=peak,
                      stages=tuple(stages), streams=streams)


def format_sample_plan(p: SamplePlan) -> str:
    f, h, w = p.video
    lines = [f"{p.config}: one video of {f} x {h} x {w} ({p.tokens:,} tokens, {stream_words(p.streams)}) on one chip "
             f"of {p.topology} ({gigabytes(p.hbm)} HBM, {p.peak_flops / 1e12:.0f} TFLOP/s bf16), stages one after the other:"]
    for s in p.stages:
        c = s.cost
        if c.refused:
            lines.append(f"  {s.name}: DOES NOT FIT: XLA asks for {gigabytes(c.temporaries)} of temporaries")
            continue
        lines.append(f"  {s.name}: {gigabytes(c.peak)} per chip ({s.free(p.hbm):.0%} free, "
                     f"{'fits' if s.fits(p.hbm) else 'DOES NOT FIT with 10% free'}; weights and inputs {gigabytes(c.arguments)}, "
                     f"temporaries {gigabytes(c.temporaries)}); {flop_count(s.flops)} x {s.calls}, "
                     f"floor {seconds(s.seconds_floor)}")
    steps = next((s.calls for s in p.stages if s.kind == "denoise"), 0)
    lines.append(f"  floor per video: {seconds(p.floor_s)} (text, {steps} Euler steps of one task, decode); "
                 f"{'every stage fits' if p.fits else 'DOES NOT FIT'}")
    if p.streams > 2:
        lines.append(f"  joint, all {p.streams} streams generated: {seconds(p.joint_floor_s)} ({p.streams} videos decoded)")
    return "\n".join(lines)


def data_parallel(p: SamplePlan, chips: int) -> str:
    """One prompt per chip on a slice of `chips` single-chip plans: videos per hour at the floor."""
    return f"{chips} chips, one prompt each: {chips * 3600 / p.floor_s:,.0f} videos per hour at the floor"
