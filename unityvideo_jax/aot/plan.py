"""AOT memory plans: compile the train step and a sampler step for a TPU slice, on this host.

Nothing is allocated: the train state, the batch and the text constants are ShapeDtypeStructs
that carry their shardings, and `jax.jit(...).lower(...).compile()` runs libtpu's compiler for
the slice's compile-only devices (parallel/topology.py). From each compiled step:
  bytes per chip  memory_analysis(): arguments, outputs, temporaries; the peak is
                  arguments + outputs - donated (aliased) + temporaries + generated code
  FLOPs           cost_analysis() (XLA's count for one chip) beside model/dit/flops.py (analytic)
  floor           FLOPs per chip / the chip's peak bf16 FLOP/s: no step can be faster
The analytic count is the one to trust for the floor: XLA counts the body of the scanned layers
once, not once per layer. The remat policy's recomputation is added (`recomputed_flops`).

The batch has config.model.aux_streams = k aux streams: one (k = 1, the release's model) is aux
(B, F, H, W, C) and modality (B,); several are stacked as the data loader feeds them, aux
(B, k, F, H, W, C), modality (B, k) and present (B, k) bool (train/step.py's `prepare_streams`).
The joint sequence holds 1 + k streams: tokens grow (1 + k)x and self-attention (1 + k)^2x.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.sharding import NamedSharding, PartitionSpec

from unityvideo_jax.aot.cost import StepCost, flop_count, gigabytes, measure, seconds, stream_words
from unityvideo_jax.diffusion.samplers import sample
from unityvideo_jax.latents.shapes import latent_shape, token_grid
from unityvideo_jax.model.dit.flops import forward_flops, streams_of
from unityvideo_jax.model.dit.spec import from_config
from unityvideo_jax.parallel.batch import batch_sharding
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules
from unityvideo_jax.parallel.topology import parse, topology_devices
from unityvideo_jax.parallel.validate import validate
from unityvideo_jax.train.loop import sharded_state
from unityvideo_jax.train.optimizer import make_optimizer
from unityvideo_jax.train.step import StepConstants, make_train_step


def recomputed_flops(spec, grid, text_len: int, policy: str) -> int:
    """FLOPs per sample a remat policy (model/dit/remat.py) adds to the backward pass.

    full recomputes the whole forward. dots keeps the outputs of matmuls without batch dimensions
    (the projections and the FFN) and recomputes the rest, which includes attention's score and
    mix products (batched einsums, or the splash kernel): 4 T^2 D + 4 T L D per layer.
    """
    if policy == "full":
        return forward_flops(spec, grid, None, text_len)
    if policy in ("dots", "dots_offload"):
        tokens = streams_of(spec) * grid[0] * grid[1] * grid[2]
        return spec.num_layers * 4 * tokens * spec.dim * (tokens + text_len)
    return 0


@dataclasses.dataclass(frozen=True)
class Plan:
    config: str
    topology: str
    chips: int
    mesh: dict
    preset: str
    remat: str
    attention: str
    dtype: str
    batch: int
    video: tuple[int, int, int]  # frames, height, width in pixels
    tokens: int  # joint sequence per sample (all 1 + k streams)
    hbm: int
    peak_flops: float
    train: StepCost
    train_flops: int  # analytic, per chip, recomputation included
    sampler: StepCost | None
    sampler_flops: int  # analytic, per chip: one forward of the batch
    streams: int = 2  # RGB plus config.model.aux_streams aux streams

    def step_fits(self, cost: StepCost) -> bool:
        return not cost.refused and cost.peak <= self.hbm

    @property
    def fits(self) -> bool:
        return self.step_fits(self.train) and (self.sampler is None or self.step_fits(self.sampler))

    @property
    def train_floor_s(self) -> float:
        return self.train_flops / self.peak_flops

    @property
    def sampler_floor_s(self) -> float:
        return self.sampler_flops / self.peak_flops


def aux_streams(config) -> int:
    """config.model.aux_streams (1 where a config predates several streams)."""
    return int(config.model.get("aux_streams", 1))


def batch_shapes(config) -> dict:
    """{key: (shape, dtype)} of the global batch the trainer's step receives (data/input/loader.py):
    one aux stream as aux (B, F, H, W, C) and modality (B,); k > 1 stacked, aux (B, k, F, H, W, C),
    modality (B, k) and present (B, k) bool."""
    b, k = int(config.data.global_batch), aux_streams(config)
    video = (b,) + latent_shape(config.data)
    text = (b, int(config.data.text_len), int(config.model.text_dim))
    shapes = dict(rgb=(video, jnp.float32), aux=(video, jnp.float32), modality=((b,), jnp.int32),
                  text=(text, jnp.float32), source=((b,), jnp.int32))
    if k > 1:
        shapes.update(aux=((b, k) + video[1:], jnp.float32), modality=((b, k), jnp.int32),
                      present=((b, k), jnp.bool_))
    return shapes


def _abstract_inputs(config, mesh, rules):
    """The batch and the text constants as sharded ShapeDtypeStructs."""
    shapes = batch_shapes(config)
    text = shapes["text"][0]
    batch = {key: jax.ShapeDtypeStruct(shape, dtype, sharding=batch_sharding(mesh, rules, len(shape)))
             for key, (shape, dtype) in shapes.items()}
    whole = NamedSharding(mesh, PartitionSpec())
    constants = StepConstants(
        prompts=jax.ShapeDtypeStruct((config.model.num_modalities,) + text[1:], jnp.float32, sharding=whole),
        empty_text=jax.ShapeDtypeStruct(text[1:], jnp.float32, sharding=whole),
    )
    return batch, constants


def compile_train_step(config, mesh):
    """The trainer's step (loop.py's jit, state donated) compiled for `mesh`'s devices."""
    rules = get_rules(config.parallel.preset)
    optimizer = make_optimizer(config.train)
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        state, shardings, graphdef, _ = sharded_state(config, mesh, rules, optimizer)
        batch, constants = _abstract_inputs(config, mesh, rules)
        step = jax.jit(make_train_step(graphdef, config, optimizer), donate_argnums=(0,),
                       out_shardings=(shardings, None))
        return step.lower(state, batch, constants).compile()


def compile_sampler_step(config, mesh):
    """One Euler step of joint generation (one model forward of the batch, no guidance); with k aux
    streams every one is generated and present, as `Pipeline.run_streams` samples them."""
    rules = get_rules(config.parallel.preset)
    optimizer = make_optimizer(config.train)
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        state, _, graphdef, _ = sharded_state(config, mesh, rules, optimizer)
        batch, constants = _abstract_inputs(config, mesh, rules)

        def step(params, rgb, aux, text, modality, prompts):
            def velocity(r, a, t_r, t_a):
                return nnx.merge(graphdef, params)(r, a, t_r, t_a, text, prompts[modality], modality)

            return sample(velocity, rgb, aux, "joint", jax.random.key(0), steps=1)

        args = (state.params, batch["rgb"], batch["aux"], batch["text"], batch["modality"], constants.prompts)
        return jax.jit(step).lower(*args).compile()


def plan(config, topology: str, *, num_slices: int = 1, sampler: bool = True) -> Plan:
    """Compile `config` for `num_slices` x `topology` (e.g. 'v5p-8') and measure it."""
    tpu = parse(topology)
    devices = topology_devices(tpu, num_slices)
    mesh = make_mesh(config.parallel, devices)
    validate(config, mesh)
    spec = from_config(config.model)
    grid = token_grid(config)
    text_len, b, chips = int(config.data.text_len), int(config.data.global_batch), len(devices)
    streams = streams_of(spec)
    forward = forward_flops(spec, grid, streams, text_len)
    per_sample = 3 * forward + recomputed_flops(spec, grid, text_len, spec.remat_policy)
    train = measure(compile_train_step, config, mesh)
    sampled = measure(compile_sampler_step, config, mesh) if sampler else None
    return Plan(
        config=config.name, topology=topology if num_slices == 1 else f"{num_slices} x {topology}",
        chips=chips, mesh=dict(mesh.shape), preset=config.parallel.preset, remat=spec.remat_policy,
        attention=spec.attention, dtype=spec.dtype, batch=b,
        video=(int(config.data.frames), int(config.data.height), int(config.data.width)),
        tokens=streams * grid[0] * grid[1] * grid[2], hbm=tpu.chip.hbm_bytes, peak_flops=tpu.chip.peak_bf16_flops,
        train=train, train_flops=b * per_sample // chips,
        sampler=sampled, sampler_flops=b * forward // chips, streams=streams,
    )


def format_plan(p: Plan) -> str:
    """The plan as the lines `unityvideo aot` prints."""
    mesh = " x ".join(f"{k} {v}" for k, v in p.mesh.items() if v > 1) or "1 device"
    f, h, w = p.video
    lines = [
        f"{p.config} on {p.topology} ({p.chips} chips, {gigabytes(p.hbm)} HBM and {p.peak_flops / 1e12:.0f} TFLOP/s "
        f"bf16 each)",
        f"  mesh {mesh}, preset {p.preset}, attention {p.attention}, remat {p.remat}, compute {p.dtype}",
        f"  global batch {p.batch} of {f} x {h} x {w}: {p.tokens:,} tokens per sample ({stream_words(p.streams)})",
    ]
    for name, cost, flops, floor in (("train step", p.train, p.train_flops, p.train_floor_s),
                                     ("sampler step", p.sampler, p.sampler_flops, p.sampler_floor_s)):
        if cost is None:
            continue
        if cost.refused:
            lines.append(f"  {name}: DOES NOT FIT: XLA asks for {gigabytes(cost.temporaries)} of temporaries per chip "
                         f"({cost.refused})")
            continue
        fits = "fits" if p.step_fits(cost) else "DOES NOT FIT"
        lines += [
            f"  {name}: per chip {gigabytes(cost.peak)} of {gigabytes(p.hbm)} ({fits}; arguments {gigabytes(cost.arguments)}, "
            f"outputs {gigabytes(cost.outputs)}, donated {gigabytes(cost.aliased)}, temporaries {gigabytes(cost.temporaries)})",
            f"    {flop_count(flops)} per chip (XLA counts {flop_count(cost.xla_flops)}, the scanned layers once); "
            f"roofline floor {seconds(floor)}",
        ]
    return "\n".join(lines)


def override(config, options: dict):
    """`config` with the command line's choices (None: keep the config's value)."""
    where = dict(batch=("data", "global_batch"), frames=("data", "frames"), height=("data", "height"),
                 width=("data", "width"), preset=("parallel", "preset"), data=("parallel", "data"),
                 fsdp=("parallel", "fsdp"), context=("parallel", "context"), tensor=("parallel", "tensor"),
                 remat=("model", "remat_policy"), attention=("model", "attention"), dtype=("model", "dtype"),
                 aux_streams=("model", "aux_streams"))
    config = config.copy_and_resolve_references()
    for option, (section, key) in where.items():
        if options.get(option) is not None:
            config[section][key] = options[option]
    return config
