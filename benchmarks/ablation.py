"""The ablation: under one step budget, the unified multi-task multi-modal model against single-task
and single-modality training, and the in-context learner / switcher on and off.

    python benchmarks/ablation.py [--steps 12000] [--seeds 2] [--count 8] [--output runs/ablation]

Every run trains the demo's long recipe (configs/demo_long.py: the demo's model, every modality drawn
equally often, the learning rate decayed to 0 at the last step) on the same UniSynth set for the
same number of steps, then is scored by `unityvideo_jax.eval.evaluate` on the same held-out clips (validation split:
the ablation informs choices): estimation, conditional generation (the modality estimated back from the
generated video against the condition, and the warping error) and joint generation (the modality
estimated back from the generated video against the generated modality). `unified` and
`estimate_only` train `--seeds` times (seeds 0, 1, ...: initialisation, noise and data order), and
`unified` trains once more for as many estimation samples as `estimate_only` sees (estimation is 60 %
of the recipe's tasks, so 1 / 0.6 the steps). The tables show each variant's mean, pooled over the
families first, then the spread over seeds (the noise a difference between variants must clear), then
every family.

Resumable: a run with results.json is kept, a run with checkpoints continues from its last one, so
the table can be built across sessions (rerun the same command). Prints one comparison table (object
pixels) and writes it with every run's results under --output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unityvideo_jax import get_config  # noqa: E402
from unityvideo_jax.data.input.iterator import make_iterator  # noqa: E402
from unityvideo_jax.demo import demo_config  # noqa: E402
from unityvideo_jax.eval.compare import comparison_rows, comparison_table, pooled_rows  # noqa: E402
from unityvideo_jax.eval.evaluate import evaluate  # noqa: E402
from unityvideo_jax.eval.report import metric_label  # noqa: E402
from unityvideo_jax.infer.pipeline import Pipeline  # noqa: E402
from unityvideo_jax.train.loop import train  # noqa: E402


def _estimate_only(c):
    c.diffusion.task_probs = {"estimate": 1.0}


def _depth_only(c):
    c.data.modality_weights = {"depth": 1.0, "flow": 0.0, "segmentation": 0.0, "skeleton": 0.0, "densepose": 0.0}


def _no_in_context(c):
    c.diffusion.modality_prompts = False


def _no_switcher(c):
    c.model.switcher = "none"


def _neither(c):
    _no_in_context(c)
    _no_switcher(c)


VARIANTS = {
    "unified": lambda c: None,
    "estimate_only": _estimate_only,
    "depth_only": _depth_only,
    "no_in_context": _no_in_context,
    "no_switcher": _no_switcher,
    "no_icl_no_switcher": _neither,
}


SEEDED = ("unified", "estimate_only")  # the variants trained with every seed


def _mean_results(runs: list[dict]) -> dict:
    """One result whose every number is the mean over `runs` (same clips, same settings)."""
    def merge(values):
        if isinstance(values[0], dict):
            return {k: merge([v[k] for v in values if k in v]) for k in values[0]}
        numbers = [v for v in values if isinstance(v, (int, float)) and v is not None]
        return float(np.mean(numbers)) if numbers and len(numbers) == len(values) else values[0]

    return {**runs[0], "tasks": merge([r["tasks"] for r in runs])}


def spread_lines(by_seed: dict[str, list[dict]]) -> list[str]:
    """Per seeded variant and row pooled over the families: the values over seeds (mean +- half the range)."""
    lines = []
    for name, runs in by_seed.items():
        if len(runs) < 2:
            continue
        for row in pooled_rows(comparison_rows({str(i): r for i, r in enumerate(runs)})):
            values = [v for v in row["values"].values() if v is not None]
            if len(values) == len(runs):
                lines.append(f"| {name} | {row['task']} | {row['modality']} | {metric_label(row['metric'])} | "
                             f"{row['scope']} | {np.mean(values):.3f} +- {(max(values) - min(values)) / 2:.3f} | "
                             + " ".join(f"{v:.3f}" for v in values) + " |")
    return lines


def equal_samples_steps(config_name: str, steps: int) -> int:
    """The steps at which the unified recipe has seen as many estimation samples as estimate_only sees in
    `steps`: estimation is only a share of its tasks (60 % in the demo's recipes)."""
    return round(steps / get_config(config_name).diffusion.task_probs["estimate"])


def parse_variant(spec: str, steps: int) -> tuple[str, int]:
    """'name' or 'name@steps' (a variant trained for another number of steps) -> (name, steps)."""
    name, _, count = spec.partition("@")
    if name not in VARIANTS or (count and not count.isdigit()):
        raise SystemExit(f"--variants: unknown variant {spec!r}; give names from {', '.join(VARIANTS)}, each "
                         "optionally with @steps (e.g. unified@20000)")
    return name, int(count) if count else steps


def variant_label(name: str, steps: int, args) -> str:
    return name if steps == args.steps else f"{name}_{steps}steps"


def run_variant(name: str, seed: int, args, out: Path, steps: int | None = None) -> dict:
    steps = steps or args.steps
    label = variant_label(name, steps, args)
    workdir = out / (label if seed == 0 else f"{label}_seed{seed}")
    done = workdir / "results.json"
    if done.exists():
        return json.loads(done.read_text())
    config = demo_config(out, clips_per_family=args.clips_per_family, config_name=args.config)
    config.train.update(steps=steps, checkpoint_every=max(steps // 10, 1), seed=seed)
    config.data.seed = seed
    VARIANTS[name](config)
    train(config, str(workdir), lambda c, s: make_iterator(c, start_step=s), progress=False)
    pipeline = Pipeline.from_checkpoint(str(workdir / "checkpoints"))
    results = evaluate(pipeline, config, count=args.count, steps=args.sampling_steps, split="validation",
                       estimate_steps=args.estimate_steps, samples=args.samples,
                       tasks=("estimate", "condition", "joint"))
    done.write_text(json.dumps(results, default=float))
    return results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=12000, help="training steps a run (~25-30 CPU minutes on 2 cores)")
    p.add_argument("--seeds", type=int, default=2, help=f"seeds of {', '.join(SEEDED)}")
    p.add_argument("--count", type=int, default=8, help="held-out validation clips per family")
    p.add_argument("--clips-per-family", type=int, default=1024)
    p.add_argument("--config", default="demo_long", help="the recipe every variant changes (its steps become --steps)")
    p.add_argument("--sampling-steps", type=int, default=4, help="sampling steps of generation")
    p.add_argument("--estimate-steps", type=int, default=1, help="sampling steps of estimation (as the demo)")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--variants", default=None, help="comma-separated names, each optionally @steps (default: every "
                   "variant at --steps, and unified at the steps that give it estimate_only's estimation samples)")
    p.add_argument("--output", default="runs/ablation")
    args = p.parse_args()
    out = Path(args.output)
    by_seed: dict[str, list[dict]] = {}
    specs = (args.variants.split(",") if args.variants
             else [*VARIANTS, f"unified@{equal_samples_steps(args.config, args.steps)}"])
    for name, steps in (parse_variant(spec, args.steps) for spec in specs):
        label = variant_label(name, steps, args)
        for seed in range(args.seeds if name in SEEDED and steps == args.steps else 1):
            by_seed.setdefault(label, []).append(run_variant(name, seed, args, out, steps))
            print(f"{label} seed {seed}: done", flush=True)
    means = {name: _mean_results(runs) for name, runs in by_seed.items()}
    table = ("## Pooled over the families (seeded variants: the mean over seeds)\n\n"
             + comparison_table(means, pooled=True))
    spread = spread_lines(by_seed)
    if spread:
        table += ("\n\n## The spread over seeds (pooled; mean +- half the range, then each seed)\n\n"
                  "| variant | task | modality | metric | scope | mean +- | seeds |\n|---|---|---|---|---|---|---|\n"
                  + "\n".join(spread))
    table += "\n\n## Per family\n\n" + comparison_table(means)
    (out / "ablation.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
