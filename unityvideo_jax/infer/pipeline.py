"""The three tasks end to end: text/video/modality in, videos out, with one set of weights.

    pipe = Pipeline.from_checkpoint("runs/demo/checkpoints")
    out = pipe.run("estimate", "depth", video=rgb_uint8, prompt="a person walks")
    out.aux  # uint8 (B, F, H, W, 3): the depth visualisation

    # several modalities in one pass (1 + k streams; any model, the weights do not depend on k)
    out = pipe.run_streams("estimate", ["depth", "flow", "segmentation"], video=rgb_uint8)
    out.aux["flow"]  # uint8 (B, F, H, W, 3)
    out = pipe.run_streams("condition", [], conditions={"depth": depth_video, "skeleton": pose_video})

The task decides which stream starts from noise (see diffusion/samplers.py); the denoising loop
is one jitted function per (task, shape, steps, method, guidance). `steps`, `method` and `guidance`
default to the config's `config.infer` values (the CLI's --steps, --method, --guidance); the Wan VAE
and umT5 folders are `config.data.vae_weights` and `config.data.text_encoder_weights`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax import modalities
from unityvideo_jax.config import with_defaults
from unityvideo_jax.diffusion.samplers import METHODS, sample
from unityvideo_jax.diffusion.tasks import TASKS
from unityvideo_jax.model.dit.transformer import UnityDiT
from unityvideo_jax.model.vae.latent_space import LatentSpace, latent_space_of
from unityvideo_jax.train.constants import step_constants, text_encoder


@dataclasses.dataclass
class StreamsOutput:
    rgb: np.ndarray  # uint8 (B, F, H, W, 3): generated for joint/condition, the input for estimate
    aux: dict  # modality name -> uint8 (B, F, H, W, 3): generated, or the condition as given
    timings: dict


@dataclasses.dataclass
class Output:
    rgb: np.ndarray  # uint8 (B, F, H, W, 3): generated for joint/condition, the input for estimate
    aux: np.ndarray  # uint8 (B, F, H, W, 3): the modality visualisation (the input for condition)
    timings: dict


def _latents(config) -> LatentSpace:
    return latent_space_of(config.data)


class Pipeline:
    def __init__(self, config, params, *, latents: LatentSpace | None = None, stage_weights: bool = False):
        """`stage_weights`: keep the DiT's and the text encoder's weights in host memory and place each on
        the device only for its stage (weights/host_weights.py), so the two never share the chip (pass
        `latents` built with staged=True to stage the VAE too, as from_release does)."""
        self.config = config
        abstract = nnx.eval_shape(lambda: UnityDiT(config.model, rngs=nnx.Rngs(0)))
        self._graphdef = nnx.graphdef(abstract)
        self.text = text_encoder(config)
        self.staged = bool(stage_weights)
        if self.staged:
            from unityvideo_jax.weights.host_weights import HostWeights

            if not self.text.offloaded:  # from_release may have offloaded it already (to the chip or the CPU)
                self.text.offload(HostWeights)
            self._dit = HostWeights(params)
            self.params = self._dit.host
        else:
            self.params = params
        self.latents = latents if latents is not None else _latents(config)
        self.constants = step_constants(config)

    @classmethod
    def from_checkpoint(cls, directory: str, *, ema: bool = True, vae_weights: str | None = None,
                        text_encoder_weights: str | None = None) -> "Pipeline":
        """A run's latest checkpoint (EMA weights when it has them and `ema`) or a converted one.

        `vae_weights`, `text_encoder_weights`: the Wan VAE and umT5 folders on this machine; they replace
        the saved `config.data.vae_weights` / `config.data.text_encoder_weights` (None: keep the saved ones).
        `directory` may name weights that ship with the package: "shipped:demo_long" (weights/shipped.py).
        """
        from unityvideo_jax.weights import params_io, shipped

        directory = shipped.resolve(directory)

        config = with_defaults(params_io.load_config(directory))
        for key, value in (("vae_weights", vae_weights), ("text_encoder_weights", text_encoder_weights)):
            if value is not None:
                config.data[key] = value
        latents = _latents(config)  # a missing VAE or text encoder fails here, before the weights load
        text_encoder(config)
        item = params_io.EMA_ITEM if ema and params_io.has_item(directory, params_io.EMA_ITEM) else params_io.PARAMS_ITEM
        abstract = nnx.eval_shape(lambda: UnityDiT(config.model, rngs=nnx.Rngs(0)))
        try:
            params = params_io.load_params(directory, nnx.to_pure_dict(nnx.state(abstract, nnx.Param)), item=item)
        except (KeyError, TypeError) as err:  # noqa: BLE001 - shapes or names that do not fit the saved config
            raise ValueError(f"checkpoint {directory} does not match its own config {config.name!r}: {err}") from err
        return cls(config, params, latents=latents)

    @classmethod
    def from_release(cls, checkpoint, base, *, config=None, dtype: str | None = "bfloat16",
                     stage_weights="auto", text_on: str = "chip") -> "Pipeline":
        """The published UnityVideo: its release `checkpoint` (.safetensors) on a Wan2.2-TI2V-5B `base`
        folder, original or diffusers layout (infer/release.py). `config`: default the 5B release's;
        `dtype`: the DiT's and umT5's parameters (bf16 as published; None: fp32); `stage_weights`: True,
        False or "auto" (stage where the two do not fit the device together, e.g. a 16 GB TPU chip);
        `text_on`: "chip", or "cpu" to run the text encoder on the host."""
        from unityvideo_jax.infer.release import load_release

        config, latents, params, staged = load_release(checkpoint, base, config, dtype, stage_weights, text_on)
        return cls(config, params, latents=latents, stage_weights=staged)

    def run(self, task: str, modality, *, prompt=None, video=None, condition=None, steps: int | None = None,
            guidance: float | None = None, seed: int = 0, method: str | None = None, samples: int = 1) -> Output:
        """Run `task` for a batch; see the module docstring. `samples` > 1 averages that many draws.
        `steps`, `guidance`, `method`: None takes `config.infer.steps`, `.guidance`, `.method`."""
        start = time.perf_counter()
        steps, guidance, method = self.sampling(steps, guidance, method)
        if task not in TASKS:
            raise ValueError(f"task={task!r}: expected one of {', '.join(TASKS)}")
        if method not in METHODS:
            raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
        given = {"estimate": ("video", video), "condition": ("condition", condition)}.get(task)
        if given is not None and given[1] is None:
            raise ValueError(f"task {task!r} needs --input: pass {given[0]}= a uint8 (B, F, H, W, 3) video")
        batch = self._batch_size(video if video is not None else condition, prompt, modality)
        ids = self._modality_ids(modality, batch)
        rgb, aux = self._inputs(batch, video, condition)
        text = self._captions(prompt, batch)
        t_encode = time.perf_counter()
        out_rgb, out_aux = self._draws(rgb, aux, text, ids, seed, samples, task=task, steps=steps, method=method,
                                       guidance=guidance)
        t_sample = time.perf_counter()
        result = Output(
            rgb=video if task == "estimate" else self.latents.decode(out_rgb),
            aux=condition if task == "condition" else self.latents.decode(out_aux),
            timings={},
        )
        end = time.perf_counter()
        result.timings = dict(encode_s=t_encode - start, sample_s=t_sample - t_encode, decode_s=end - t_sample,
                              total_s=end - start)
        return result

    def run_streams(self, task: str, generate, *, conditions: dict | None = None, prompt=None, video=None,
                    steps: int | None = None, guidance: float | None = None, seed: int = 0,
                    method: str | None = None, samples: int = 1) -> StreamsOutput:
        """Several modalities in one pass: RGB plus one aux stream per modality in `generate` (generated)
        and in `conditions` ({name: uint8 (B, F, H, W, 3)}, kept clean), every sample the same set.

        estimate: `video` given, the `generate` modalities estimated (given the `conditions` too, if any);
        condition: RGB generated under all `conditions` (`generate` may add modalities generated with it);
        joint: RGB and the `generate` modalities from the caption (under `conditions`, if any)."""
        start = time.perf_counter()
        steps, guidance, method = self.sampling(steps, guidance, method)
        if task not in TASKS:
            raise ValueError(f"task={task!r}: expected one of {', '.join(TASKS)}")
        if method not in METHODS:
            raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
        generate = [generate] if isinstance(generate, str) else list(generate)
        conditions = dict(conditions or {})
        names = [modalities.get(m).name for m in generate] + [modalities.get(m).name for m in conditions]
        twice = sorted({m for m in names if names.count(m) > 1})
        if twice:
            raise ValueError(f"the modality {', '.join(twice)} is asked for twice: name each modality once, "
                             "either to generate or as a condition")
        if not names:
            raise ValueError("no modality given: name at least one to generate or one condition")
        if len(names) > int(self.config.model.num_modalities):
            raise ValueError(f"{len(names)} modalities: at most {self.config.model.num_modalities} streams")
        if task == "estimate" and video is None:
            raise ValueError("task 'estimate' needs --input: pass video= a uint8 (B, F, H, W, 3) video")
        if task == "estimate" and not generate:
            raise ValueError("task 'estimate' with nothing to estimate: name the modalities to generate")
        if task == "condition" and not conditions:
            raise ValueError("task 'condition' needs conditions={modality: uint8 (B, F, H, W, 3) video}")
        given = list(conditions.values())
        shapes = {tuple(np.shape(v)) for v in given + ([video] if video is not None else [])}
        if len(shapes) > 1:
            raise ValueError(f"the input videos have different shapes {sorted(shapes)}: every condition (and the "
                             "video) must have the same (B, F, H, W, 3)")
        batch = self._batch_size(video if video is not None else (given[0] if given else None), prompt, None)
        rgb, _ = self._inputs(batch, video, None)
        streams = [self._inputs(batch, None, None)[1] for _ in generate]
        streams += [self._inputs(batch, None, v)[1] for v in given]
        aux = np.stack(streams, axis=1)  # (B, k, ...)
        ids = np.tile(np.array([modalities.index(m) for m in names], np.int32), (batch, 1))
        generated = tuple([True] * len(generate) + [False] * len(given))
        text = self._captions(prompt, batch)
        t_encode = time.perf_counter()
        out_rgb, out_aux = self._draws(rgb, aux, text, ids, seed, samples, task=task, steps=steps, method=method,
                                       guidance=guidance, aux_generated=generated)
        t_sample = time.perf_counter()
        decoded = {}
        for s, name in enumerate(names):
            decoded[name] = (self.latents.decode(out_aux[:, s]) if generated[s]
                             else np.asarray(conditions[list(conditions)[s - len(generate)]]))
        result = StreamsOutput(
            rgb=video if task == "estimate" else self.latents.decode(out_rgb), aux=decoded, timings={})
        end = time.perf_counter()
        result.timings = dict(encode_s=t_encode - start, sample_s=t_sample - t_encode, decode_s=end - t_sample,
                              total_s=end - start)
        return result

    def _captions(self, prompt, batch: int) -> np.ndarray:
        captions = [prompt] * batch if prompt is None or isinstance(prompt, str) else list(prompt)
        return self.text.encode(["" if c is None else c for c in captions])[0]

    def _draws(self, rgb, aux, text, ids, seed: int, samples: int, *, aux_generated=None, **options):
        """The mean of `samples` sampler runs (seeds seed, seed + 1, ...) as (rgb, aux) latents."""
        draws = []
        with self._dit.placed() if self.staged else contextlib.nullcontext(self.params) as params:
            for k in range(samples):
                draws.append(self._generate(
                    params, jnp.asarray(rgb), jnp.asarray(aux), jnp.asarray(text),
                    self._aux_text(ids, text), jnp.asarray(ids), jax.random.key(seed + k),
                    self.constants.empty_text, task=options["task"], steps=options["steps"],
                    method=options["method"], guidance=float(options["guidance"]),
                    shift=float(self.config.infer.shift), aux_generated=aux_generated,
                ))
            out_rgb = np.mean([np.asarray(d[0]) for d in draws], axis=0)  # fetched before the DiT leaves
            out_aux = np.mean([np.asarray(d[1]) for d in draws], axis=0)
        return out_rgb, out_aux

    def sampling(self, steps: int | None = None, guidance: float | None = None,
                 method: str | None = None) -> tuple[int, float, str]:
        """(steps, guidance, method): the given values, the config's `config.infer` ones where None."""
        infer = self.config.infer
        return (int(infer.steps if steps is None else steps), float(infer.guidance if guidance is None else guidance),
                str(infer.method if method is None else method))

    def _aux_text(self, ids: np.ndarray, text: np.ndarray) -> jax.Array:
        """The modality prompts (the in-context learner), or the caption where a run trained without them."""
        if self.config.diffusion.get("modality_prompts", True):
            return self.constants.prompts[jnp.asarray(ids)]
        if np.ndim(ids) == 2:  # one caption copy per aux stream
            return jnp.broadcast_to(jnp.asarray(text)[:, None], (text.shape[0], ids.shape[1], *text.shape[1:]))
        return jnp.asarray(text)

    def _batch_size(self, video, prompt, modality) -> int:
        for value in (video, prompt, modality):
            if value is not None and not isinstance(value, (str, int)) and hasattr(value, "__len__"):
                return len(value)
        return 1

    def _modality_ids(self, modality, batch: int) -> np.ndarray:
        names = [modality] * batch if isinstance(modality, (str, int)) else list(modality)
        if len(names) != batch:
            raise ValueError(f"{len(names)} modalities for a batch of {batch}: pass one per sample or one for all")
        ids = []
        for m in names:
            ids.append(modalities.index(m) if isinstance(m, str) else int(m))
            modalities.get(ids[-1])  # raises for an unknown id
        return np.array(ids, np.int32)

    def _inputs(self, batch: int, video, condition):
        d = self.config.data
        expected = (d.frames, d.height, d.width, 3)
        for name, value in (("video", video), ("condition", condition)):
            if value is not None and tuple(np.shape(value)[1:]) != expected:
                raise ValueError(
                    f"{name} has shape {np.shape(value)}: this checkpoint's config expects (B, {d.frames}, {d.height}, "
                    f"{d.width}, 3) uint8 frames; resample the video to {d.frames} frames of {d.height}x{d.width}"
                )
        blank = np.zeros((batch,) + expected, np.uint8)
        rgb = self.latents.encode(np.asarray(video if video is not None else blank, np.uint8))
        aux = self.latents.encode(np.asarray(condition if condition is not None else blank, np.uint8))
        return rgb, aux

    @functools.partial(jax.jit, static_argnums=(0,),
                       static_argnames=("task", "steps", "method", "guidance", "shift", "aux_generated"))
    def _generate(self, params, rgb, aux, text, aux_text, modality, key, empty_text, *, task, steps, method,
                  guidance, shift, aux_generated=None):
        b = rgb.shape[0]

        def velocity(r, a, t_r, t_a):
            # merged here, inside the sampler's loop: NNX modules must not cross trace levels
            model = nnx.merge(self._graphdef, params)
            if guidance == 1.0:
                return model(r, a, t_r, t_a, text, aux_text, modality)
            two = lambda x: jnp.concatenate([x, x], axis=0)  # noqa: E731
            uncond = jnp.broadcast_to(empty_text, text.shape)
            v_r, v_a = model(two(r), two(a), two(t_r), two(t_a), jnp.concatenate([text, uncond]), two(aux_text),
                             two(modality))
            mix = lambda v: v[b:] + guidance * (v[:b] - v[b:])  # noqa: E731
            return mix(v_r), mix(v_a)

        return sample(velocity, rgb, aux, task, key, steps=steps, method=method, shift_value=shift,
                      aux_generated=aux_generated)
