"""The ablation in miniature: under one step budget, the unified multi-task multi-modal model against
single-task and single-modality training, and the in-context learner / switcher on and off.

    python benchmarks/ablation.py [--steps 1000] [--count 3] [--output runs/ablation]

Every run trains the demo's config (configs/demo.py) from the same seed on the same UniSynth set for the same number
of steps, then is scored by `unityvideo_jax.eval.evaluate` on the same held-out clips. Prints one
comparison table (object pixels) and writes it with every run's results under --output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unityvideo_jax.data.input.iterator import make_iterator  # noqa: E402
from unityvideo_jax.demo import demo_config  # noqa: E402
from unityvideo_jax.eval.compare import comparison_table  # noqa: E402
from unityvideo_jax.eval.evaluate import evaluate  # noqa: E402
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--count", type=int, default=3, help="held-out clips per family")
    p.add_argument("--sampling-steps", type=int, default=4, help="sampling steps of generation")
    p.add_argument("--estimate-steps", type=int, default=1, help="sampling steps of estimation (as the demo)")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--output", default="runs/ablation")
    args = p.parse_args()
    out = Path(args.output)
    results = {}
    for name in args.variants.split(","):
        config = demo_config(out, clips_per_family=256)
        config.train.steps = args.steps
        config.train.checkpoint_every = args.steps
        VARIANTS[name](config)
        workdir = out / name
        train(config, str(workdir), lambda c, s: make_iterator(c, start_step=s), progress=False)
        pipeline = Pipeline.from_checkpoint(str(workdir / "checkpoints"))
        results[name] = evaluate(pipeline, config, count=args.count, steps=args.sampling_steps,
                                 estimate_steps=args.estimate_steps, samples=args.samples, tasks=("estimate", "condition"))
        (workdir / "results.json").write_text(json.dumps(results[name], default=float))
        print(f"{name}: done", flush=True)
    table = comparison_table(results)
    (out / "ablation.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
