"""Which model, data and budget choices let the demo's tiny model learn to *read* its input?

    python benchmarks/demo_sweep.py prepare --data /tmp/sweep --clips 256        # here: clips + captions
    python benchmarks/demo_sweep.py run --data /tmp/sweep --variants base,head64 --steps 3200 --every 800

`prepare` renders the demo's UniSynth training clips (every modality of each) and held-out clips, and
encodes their captions and the modality prompts with the packaged MiniLM, into one compressed file.
`run` needs only that file, jax, flax, optax and ml_collections (no Grain, Orbax or text encoder), so
it also runs on an accelerator host: it trains each variant (the tiny config plus overrides) with the
project's own train step on batches balanced over the four sources as the demo's loader does, and
every --every steps scores estimation of depth and segmentation on the held-out clips exactly as
`unityvideo eval` does (object pixels, EMA weights, Euler, samples averaged), next to the training
set's average map. It prints one table; steps, not seconds, are its clock: time a variant's steps/s on
the demo's CPU separately (`--time-steps`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def _configs_package() -> None:
    """Outside an installed checkout (e.g. on an accelerator host), configs/ is unityvideo_jax.configs."""
    import importlib.util

    if importlib.util.find_spec("unityvideo_jax.configs") is None:
        folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
        spec = importlib.util.spec_from_file_location(
            "unityvideo_jax.configs", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
        package = importlib.util.module_from_spec(spec)
        sys.modules["unityvideo_jax.configs"] = package
        spec.loader.exec_module(package)


_configs_package()

FAMILIES = ("single_person", "two_person", "objects", "mixed")
SCORED = {"depth": ("abs_rel", True), "segmentation": ("miou", False)}  # metric, lower is better

P4_D192 = {"model.patch_size": (1, 4, 4), "model.dim": 192, "model.ffn_dim": 384, "model.num_heads": 3}
# the demo's focus: estimation first, and depth and segmentation (what it is judged on) drawn more often
FOCUS = {"diffusion.shift": 5.0, "train.lr": 3e-3, "diffusion.task_probs.estimate": 0.6,
         "diffusion.task_probs.joint": 0.2, "diffusion.task_probs.condition": 0.2,
         "data.modality_weights.depth": 0.35, "data.modality_weights.segmentation": 0.35,
         "data.modality_weights.flow": 0.1, "data.modality_weights.skeleton": 0.1,
         "data.modality_weights.densepose": 0.1}
# name -> (config overrides as dotted keys, initial qk RMSNorm gain)
VARIANTS = {
    "base": ({}, 1.0),
    "qk3": ({}, 3.0),
    "head64": ({"model.num_heads": 1}, 1.0),
    "head64_qk3": ({"model.num_heads": 1}, 3.0),
    "head32_qk2": ({"model.num_heads": 2}, 2.0),
    "dim128_head64": ({"model.dim": 128, "model.ffn_dim": 256, "model.num_heads": 2}, 1.0),
    "dim128_head64_qk3": ({"model.dim": 128, "model.ffn_dim": 256, "model.num_heads": 2}, 3.0),
    "layers4_head64_qk3": ({"model.num_layers": 4, "model.num_heads": 1}, 3.0),
    "lr3e-3_head64_qk3": ({"model.num_heads": 1, "train.lr": 3e-3}, 3.0),
    "est_only_head64_qk3": ({"model.num_heads": 1, "diffusion.task_probs.joint": 0.0,
                             "diffusion.task_probs.condition": 0.0, "diffusion.task_probs.estimate": 1.0}, 3.0),
    "theta100_head64_qk3": ({"model.num_heads": 1, "model.rope_theta": 100.0}, 3.0),
    "shift3_head64_qk3": ({"model.num_heads": 1, "diffusion.shift": 3.0}, 3.0),
    # 4 x 4 latent patches (8 x 8 pixels): 80 tokens a stream, a token of 192 values
    "p4_d192": ({**P4_D192}, 1.0),
    "p4_d192_qk3": ({**P4_D192}, 3.0),
    "p4_d192_partner": ({**P4_D192}, 1.0, True),
    "p4_d192_qk2_partner": ({**P4_D192}, 2.0, True),
    "head32_partner": ({"model.num_heads": 2}, 1.0, True),
    "p4_d192_shift5": ({**P4_D192, "diffusion.shift": 5.0}, 1.0),
    "p4_d192_shift5_partner": ({**P4_D192, "diffusion.shift": 5.0}, 1.0, True),
    "p4_d192_uniform_shift3": ({**P4_D192, "diffusion.timestep_sampling": "uniform", "diffusion.shift": 3.0}, 1.0),
    "p4_d192_shift5_partner_lr3e-3": ({**P4_D192, "diffusion.shift": 5.0, "train.lr": 3e-3}, 1.0, True),
    "p4_d256_shift5_partner": ({**P4_D192, "model.dim": 256, "model.ffn_dim": 512, "model.num_heads": 4,
                                "diffusion.shift": 5.0}, 1.0, True),
    "head32_shift5_partner": ({"model.num_heads": 2, "diffusion.shift": 5.0}, 1.0, True),
    "p4_d192_uniform_shift3_partner": ({**P4_D192, "diffusion.timestep_sampling": "uniform", "diffusion.shift": 3.0},
                                       1.0, True),
    "p4_d192_uniform_shift3_partner_lr3e-3": ({**P4_D192, "diffusion.timestep_sampling": "uniform",
                                              "diffusion.shift": 3.0, "train.lr": 3e-3}, 1.0, True),
    "focus": ({**P4_D192, **FOCUS}, 1.0, True),
    "focus_lr5e-3": ({**P4_D192, **FOCUS, "train.lr": 5e-3}, 1.0, True),
    # segmentation drawn half the time (the demo's weak spot), depth kept at 0.3
    "focus_seg": ({**P4_D192, **FOCUS, "train.lr": 5e-3, "data.modality_weights.depth": 0.3,
                   "data.modality_weights.segmentation": 0.5, "data.modality_weights.flow": 0.067,
                   "data.modality_weights.skeleton": 0.067, "data.modality_weights.densepose": 0.066}, 1.0, True),
    "base_shift5": ({"diffusion.shift": 5.0}, 1.0),
    "p4_d192_qk3_lr3e-3": ({**P4_D192, "train.lr": 3e-3}, 3.0),
    "p4_d192_qk3_est_only": ({**P4_D192, "diffusion.task_probs.joint": 0.0, "diffusion.task_probs.condition": 0.0,
                              "diffusion.task_probs.estimate": 1.0}, 3.0),
}


def _config(overrides: dict):
    from unityvideo_jax.config import get_config

    config = get_config("tiny_paper")
    for dotted, value in overrides.items():
        node = config
        *path, leaf = dotted.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    return config


# ----------------------------------------------------------------------------------------------- prepare
def prepare(args) -> None:
    from unityvideo_jax import modalities
    from unityvideo_jax.data.input.heldout import eval_clips
    from unityvideo_jax.data.render import renderings
    from unityvideo_jax.data.unisynth.clips import render_clip
    from unityvideo_jax.eval import baselines
    from unityvideo_jax.model.text.encoders import text_encoder

    config = _config({})
    d = config.data
    encoder = text_encoder("minilm", None, int(d.text_len))
    out: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    for fi, family in enumerate(FAMILIES):
        names = tuple(modalities.get(m).name for m in d.source_modalities[family])
        rgb, aux, captions = [], [], []
        for seed in range(args.clips):
            clip = render_clip(family, seed, d.frames, d.height, d.width)
            rgb.append(clip.rgb)
            aux.append(np.stack([renderings.render(n, clip) if n in names else np.zeros_like(clip.rgb)
                                 for n in modalities.NAMES]))
            captions.append(clip.caption)
        text, lengths = encoder.encode(captions)
        out[f"train/{family}/rgb"] = np.stack(rgb)
        out[f"train/{family}/aux"] = np.stack(aux)
        # valid tokens only (the records' layout too): most of the file is text otherwise
        out[f"train/{family}/text"] = np.concatenate([t[:n] for t, n in zip(np.asarray(text, np.float16), lengths)])
        out[f"train/{family}/text_len"] = np.asarray(lengths)
        out[f"train/{family}/have"] = np.array([n in names for n in modalities.NAMES])
        print(f"{family}: {args.clips} clips, {time.perf_counter() - start:.0f} s", flush=True)
    clips = list(eval_clips(config, FAMILIES, args.eval_clips, split="validation"))  # sweeps choose on validation
    text, _ = encoder.encode([c.caption for c in clips])
    out["eval/text"] = np.asarray(text, np.float16)
    prompts, _ = encoder.encode([m.prompt for m in modalities.MODALITIES])
    empty, _ = encoder.encode([""])
    out["prompts"], out["empty"] = np.asarray(prompts, np.float32), np.asarray(empty[0], np.float32)
    out["eval_clips"] = np.array(args.eval_clips)
    stats = baselines.training_statistics(config, baselines.BASELINE_CLIPS)
    for field in ("mean_depth", "instance_mode", "median_depth"):
        out[f"stats/{field}"] = np.asarray(getattr(stats, field))
    os.makedirs(args.data, exist_ok=True)
    path = os.path.join(args.data, "sweep_data.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path}: {os.path.getsize(path) / 2**20:.1f} MiB in {time.perf_counter() - start:.0f} s")


# ----------------------------------------------------------------------------------------------- run
def _padded(flat: np.ndarray, lengths: np.ndarray, text_len: int) -> np.ndarray:
    """Ragged valid-token embeddings -> (N, text_len, D) float32, zero-padded (or cut) to text_len."""
    out = np.zeros((len(lengths), text_len, flat.shape[-1]), np.float32)
    ends = np.cumsum(lengths)
    for row, end, n in zip(out, ends, lengths):
        keep = min(int(n), text_len)
        row[:keep] = flat[end - n : end - n + keep]
    return out


class Batches:
    """The demo loader's batches from memory: equal groups per source, modality drawn by weight."""

    def __init__(self, data, config, seed: int):
        from unityvideo_jax import modalities

        self.rng = np.random.default_rng(seed)
        self.rgb = [data[f"train/{f}/rgb"] for f in FAMILIES]
        self.aux = [data[f"train/{f}/aux"] for f in FAMILIES]
        self.text_len = int(config.data.text_len)
        self.text = [_padded(data[f"train/{f}/text"], data[f"train/{f}/text_len"], self.text_len) for f in FAMILIES]
        weights = np.array([config.data.modality_weights[n] for n in modalities.NAMES])
        self.probs = []
        for f in FAMILIES:
            w = weights * data[f"train/{f}/have"]
            self.probs.append(w / w.sum())
        self.per_source = config.data.global_batch // len(FAMILIES)

    def __next__(self) -> dict:
        from unityvideo_jax.latents import pixel

        rgb, aux, mod, text = [], [], [], []
        for s in range(len(FAMILIES)):
            for k in self.rng.integers(0, len(self.rgb[s]), self.per_source):
                m = self.rng.choice(len(self.probs[s]), p=self.probs[s])
                rgb.append(self.rgb[s][k])
                aux.append(self.aux[s][k, m])
                mod.append(m)
                text.append(self.text[s][k])
        return dict(rgb=pixel.encode(np.stack(rgb)), aux=pixel.encode(np.stack(aux)),
                    modality=np.array(mod, np.int32), text=np.stack(text))


class Scorer:
    """Estimation of depth and segmentation on the held-out clips, scored as `unityvideo eval` scores."""

    def __init__(self, data, config, settings: str):
        from unityvideo_jax import modalities
        from unityvideo_jax.data.input.heldout import eval_clips
        from unityvideo_jax.eval import baselines, scores

        count = int(data["eval_clips"])
        self.clips = list(eval_clips(config, FAMILIES, count, split="validation"))
        self.text = data["eval/text"].astype(np.float32)
        self.prompts, self.empty = data["prompts"], data["empty"]
        stats = baselines.TrainingStatistics(
            median_depth=float(data["stats/median_depth"]), mean_depth=data["stats/mean_depth"],
            mean_flow=None, instance_mode=data["stats/instance_mode"], mean_keypoints=None, part_mode=None,
            mean_uv=None)
        self.items = [(i, name) for i, clip in enumerate(self.clips) for name in SCORED
                      if name in config.data.source_modalities[clip.family]]
        self.settings = [tuple(int(v) for v in (x.split("x") + ["1"])[:2]) for x in settings.split(",")]
        self.shift = float(config.infer.shift)
        self.baseline = self._mean([
            scores.score_prediction(name, baselines.BASELINES["average"](name, stats, self.clips[i].rgb.shape[0]),
                                    self.clips[i]) for i, name in self.items])
        self.modalities, self.scores = modalities, scores
        self._compiled = {}

    def _mean(self, scored: list[dict]) -> dict:
        out = {}
        for name, (metric, _) in SCORED.items():
            values = [s["object"][metric] for (i, n), s in zip(self.items, scored) if n == name]
            values = [v for v in values if np.isfinite(v)]
            out[name] = float(np.mean(values)) if values else float("nan")
        return out

    def __call__(self, graphdef, params) -> dict:
        """{"depth@10x2": abs_rel, "segmentation@10x2": miou, ...} for every sampling setting."""
        import jax

        from unityvideo_jax.latents import pixel

        out = {}
        for steps, samples in self.settings:
            if (graphdef, steps) not in self._compiled:
                self._compiled[(graphdef, steps)] = self._estimator(graphdef, steps)
            estimate = self._compiled[(graphdef, steps)]
            draws = [pixel.decode(np.asarray(estimate(params, jax.random.key(k)))) for k in range(samples)]
            scored = self._mean([self.scores.score_draws(n, [d[j] for d in draws], self.clips[i])
                                 for j, (i, n) in enumerate(self.items)])  # averaged as `unityvideo eval` does
            out.update({f"{name}@{steps}x{samples}": value for name, value in scored.items()})
        return out

    def _estimator(self, graphdef, steps: int):
        """The jitted sampler of the held-out items' aux stream for one model structure."""
        import jax
        import jax.numpy as jnp
        from flax import nnx

        from unityvideo_jax.diffusion.samplers import sample
        from unityvideo_jax.latents import pixel

        ids = jnp.asarray(np.array([self.modalities.index(n) for _, n in self.items], np.int32))
        rgb = jnp.asarray(pixel.encode(np.stack([self.clips[i].rgb for i, _ in self.items])))
        text = jnp.asarray(np.stack([self.text[i] for i, _ in self.items]))
        aux_text = jnp.asarray(self.prompts[np.asarray(ids)])

        @jax.jit
        def estimate(params, key):
            def velocity(r, a, t_r, t_a):
                return nnx.merge(graphdef, params)(r, a, t_r, t_a, text, aux_text, ids)

            return sample(velocity, rgb, jnp.zeros_like(rgb), "estimate", key, steps=steps, method="euler",
                          shift_value=self.shift)[1]

        return estimate


def run_variant(name: str, data, args, scorer_cache: dict) -> list[dict]:
    import jax
    from flax import nnx

    from unityvideo_jax.latents.shapes import token_grid
    from unityvideo_jax.model.dit.partner import init_partner_heads
    from unityvideo_jax.model.dit.transformer import UnityDiT
    from unityvideo_jax.train.optimizer import make_optimizer
    from unityvideo_jax.train.state import create_state
    from unityvideo_jax.train.step import StepConstants, make_train_step

    overrides, qk_gain, *rest = VARIANTS[name]
    partner = bool(rest and rest[0])
    config = _config(overrides)
    config.train.steps = args.steps
    key = (config.infer.shift,)
    if key not in scorer_cache:
        scorer_cache[key] = Scorer(data, config, args.sampling)
    scorer = scorer_cache[key]
    optimizer = make_optimizer(config.train)

    def init():
        model = UnityDiT(config.model, rngs=nnx.Rngs(config.train.seed))
        for norm in (model.blocks.attn1.norm_q, model.blocks.attn1.norm_k):
            norm.scale[...] = norm.scale[...] * qk_gain
        if partner or config.train.get("partner_init", False):
            init_partner_heads(model, token_grid(config), config.train.seed)
        return create_state(model, optimizer, config.train.seed)

    state = jax.jit(init)()
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: UnityDiT(config.model, rngs=nnx.Rngs(0))))
    constants = StepConstants(prompts=jax.numpy.asarray(data["prompts"]), empty_text=jax.numpy.asarray(data["empty"]))
    step = jax.jit(make_train_step(graphdef, config, optimizer), donate_argnums=(0,))
    batches = Batches(data, config, seed=0)
    rows, train_s, losses = [], 0.0, []
    start = time.perf_counter()
    for i in range(1, args.steps + 1):
        state, metrics = step(state, next(batches), constants)
        losses.append(metrics["loss_aux"])
        if i % args.every == 0:
            jax.block_until_ready(metrics)
            train_s += time.perf_counter() - start
            scored = scorer(graphdef, state.ema)
            start = time.perf_counter()
            rows.append(dict(variant=name, step=i, loss_aux=float(np.mean(jax.device_get(losses[-args.every:]))),
                             **scored, train_s=train_s))
            cells = " | ".join(f"{scored[k]:.3f}" for k in scored)
            print(f"| {name} | {i} | {rows[-1]['loss_aux']:.3f} | {cells} | {train_s:.0f} |", flush=True)
    if args.save:
        flat = {"/".join(str(p.key) for p in path): np.asarray(v)
                for path, v in jax.tree_util.tree_leaves_with_path(jax.device_get(state.ema))}
        np.savez(os.path.join(args.save, f"{name}_ema.npz"), **flat)
    return rows


def time_steps(args) -> None:
    """Steps/s of each variant's train step on this machine (after compilation), batches prebuilt."""
    import jax
    from flax import nnx

    from unityvideo_jax.model.dit.transformer import UnityDiT
    from unityvideo_jax.train.optimizer import make_optimizer
    from unityvideo_jax.train.state import create_state
    from unityvideo_jax.train.step import StepConstants, make_train_step

    data = np.load(os.path.join(args.data, "sweep_data.npz"))
    print("| variant | steps/s on this host |\n|---|---:|")
    for name in args.variants.split(","):
        config = _config(VARIANTS[name][0])
        optimizer = make_optimizer(config.train)
        state = jax.jit(lambda: create_state(UnityDiT(config.model, rngs=nnx.Rngs(0)), optimizer, 0))()
        graphdef = nnx.graphdef(nnx.eval_shape(lambda: UnityDiT(config.model, rngs=nnx.Rngs(0))))
        constants = StepConstants(prompts=jax.numpy.asarray(data["prompts"]), empty_text=jax.numpy.asarray(data["empty"]))
        step = jax.jit(make_train_step(graphdef, config, optimizer), donate_argnums=(0,))
        batches = Batches(data, config, seed=0)
        batch = [next(batches) for _ in range(4)]
        for b in batch[:2]:
            state, m = step(state, b, constants)
        jax.block_until_ready(m)
        start = time.perf_counter()
        for k in range(args.time_steps):
            state, m = step(state, batch[k % 4], constants)
        jax.block_until_ready(m)
        print(f"| {name} | {args.time_steps / (time.perf_counter() - start):.2f} |", flush=True)


def run(args) -> None:
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")  # fp32 as on the CPU (no TF32 on a GPU)
    data = dict(np.load(os.path.join(args.data, "sweep_data.npz")))
    settings = args.sampling.split(",")
    print(f"estimation on {int(data['eval_clips'])} held-out clips a family, object pixels, EMA weights; "
          f"Euler steps x samples averaged: {', '.join(settings)}")
    base = Scorer(data, _config({}), args.sampling).baseline
    print(f"average map: depth abs_rel {base['depth']:.3f} (lower is better), segmentation miou "
          f"{base['segmentation']:.3f} (higher is better)")
    heads = " | ".join(f"{m} @{x}" for x in settings for m in ("depth", "seg"))
    print(f"| variant | step | aux loss | {heads} | train s |")
    print("|---|---:|---:|" + "---:|" * (2 * len(settings)) + "---:|")
    cache, rows = {}, []
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    for name in args.variants.split(","):
        rows += run_variant(name, data, args, cache)
    if args.output:
        import json

        with open(args.output, "w") as f:
            json.dump(dict(rows=rows, baseline=base), f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("prepare", "run", "time"))
    p.add_argument("--data", required=True, help="folder of sweep_data.npz")
    p.add_argument("--clips", type=int, default=256, help="prepare: training clips a family (the demo: 256)")
    p.add_argument("--eval-clips", type=int, default=4, help="prepare: held-out clips a family")
    p.add_argument("--variants", default="base", help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--steps", type=int, default=3200)
    p.add_argument("--every", type=int, default=800)
    p.add_argument("--sampling", default="1,10x4",
                   help="Euler steps x samples averaged, comma-separated settings (1 = the posterior mean in one step)")
    p.add_argument("--save", default="", help="run: write each variant's final EMA weights here")
    p.add_argument("--time-steps", type=int, default=20)
    p.add_argument("--output", default="", help="run: also write the rows as JSON here")
    args = p.parse_args()
    {"prepare": prepare, "run": run, "time": time_steps}[args.mode](args)


if __name__ == "__main__":
    main()
