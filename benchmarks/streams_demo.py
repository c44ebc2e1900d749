"""Several modalities in one pass on the demo world: one pass of three streams against three passes.

    python benchmarks/streams_demo.py --checkpoint runs/demo_streams/run/checkpoints [--count 8] [--split test]

For each training family, `--count` held-out clips, and the family's first three modalities:
- estimation: the three estimated in one `run_streams` pass against three single-stream `run` passes
  (the same weights, the same seeds, `--draws` one-step draws averaged as `unityvideo eval` does),
  scored against the exact ground truth (object pixels), and the time per video of each (alternated
  rounds, median);
- joint generation: RGB with two modalities in one pass against RGB with one, each scored by the
  estimate-back consistency: the modality estimated from the generated RGB (a single-stream estimate)
  against the generated modality (depth: AbsRel after the usual alignment; segmentation: instance
  mIoU; flow: EPE; skeleton: PCK; DensePose: body-part accuracy), so a model whose generated streams
  agree with each other scores as a model that estimates well.
Any checkpoint runs any number of streams (the weights do not depend on it), so a model trained with
one aux stream (`configs/demo.py`) can be measured too: what it gives is what the table says.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from unityvideo_jax.data.input.heldout import eval_clips  # noqa: E402
from unityvideo_jax.data.render import renderings  # noqa: E402
from unityvideo_jax.data.unisynth.clips import TRAIN_FAMILIES  # noqa: E402
from unityvideo_jax.eval import scores  # noqa: E402
from unityvideo_jax.eval.evaluate import family_modalities  # noqa: E402

LOWER_IS_BETTER = {"abs_rel", "epe"}


def _headline(modality: str, scored: dict) -> float:
    return scored["object"].get(scores.HEADLINE[modality], np.nan)


def _agreement(modality: str, generated: np.ndarray, estimated: np.ndarray, clip) -> float:
    """How well a modality estimated back from generated RGB agrees with the generated modality: the
    estimate scored as a prediction against the generated modality decoded as ground truth."""
    from unityvideo_jax.eval import metrics

    truth = renderings.decode(modality, generated)
    pred = scores.decode_draws(modality, [estimated])
    everywhere = np.ones(generated.shape[:3], bool)
    if modality == "depth":
        valid = metrics.valid_depth(truth["depth"])
        aligned = metrics.align_depth(pred["depth"], truth["depth"], valid)
        return metrics.depth_errors(aligned, truth["depth"], everywhere)["abs_rel"]
    if modality == "segmentation":
        return metrics.segmentation_scores(pred["instances"], truth["instances"], everywhere)["miou"]
    if modality == "flow":
        return metrics.end_point_error(pred["flow"], truth["flow"], everywhere)
    if modality == "densepose":
        return metrics.densepose_scores(pred["parts"], pred["uv"], truth["parts"], truth["uv"], everywhere)[
            "body_part_accuracy"]
    if modality == "skeleton":  # the generated joints stand in for the keypoints
        return float("nan")
    raise ValueError(modality)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a run's checkpoints folder")
    parser.add_argument("--count", type=int, default=8, help="held-out clips per family")
    parser.add_argument("--split", default="test", choices=("validation", "test"))
    parser.add_argument("--draws", type=int, default=4, help="one-step estimates averaged per prediction")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (alternated)")
    parser.add_argument("--steps", type=int, default=10, help="sampling steps of joint generation")
    args = parser.parse_args()

    from unityvideo_jax.infer.pipeline import Pipeline

    pipe = Pipeline.from_checkpoint(args.checkpoint)
    config = pipe.config
    print(f"checkpoint {args.checkpoint} (config {config.name}, trained with "
          f"{config.model.get('aux_streams', 1)} aux stream(s)); {args.count} {args.split} clips per family")
    rows, times, joint_rows = [], {"one pass": [], "single passes": []}, []
    for family in TRAIN_FAMILIES:
        clips = list(eval_clips(config, (family,), args.count, 0, args.split))
        names = list(family_modalities(config, family))[:3]
        video = np.stack([c.rgb for c in clips])
        prompt = [c.caption for c in clips]
        single, together = {m: [] for m in names}, {m: [] for m in names}
        for r in range(max(args.rounds, args.draws)):
            seed = 1000 * r
            start = time.perf_counter()
            outs = {m: pipe.run("estimate", m, video=video, prompt=prompt, steps=1, seed=seed).aux for m in names}
            single_s = time.perf_counter() - start
            start = time.perf_counter()
            multi = pipe.run_streams("estimate", names, video=video, prompt=prompt, steps=1, seed=seed).aux
            multi_s = time.perf_counter() - start
            if r > 0:  # the first round compiles
                times["single passes"].append(single_s / len(clips))
                times["one pass"].append(multi_s / len(clips))
            if r < args.draws:
                for m in names:
                    single[m].append(outs[m])
                    together[m].append(multi[m])
        for m in names:
            for i, clip in enumerate(clips):
                a = _headline(m, scores.score_draws(m, [d[i] for d in single[m]], clip))
                b = _headline(m, scores.score_draws(m, [d[i] for d in together[m]], clip))
                rows.append((family, m, a, b))
        # joint generation: RGB + the first one / two modalities, estimate-back consistency
        pair = [m for m in names if m != "skeleton"][:2]
        two = pipe.run_streams("joint", pair, prompt=prompt, steps=args.steps, seed=7)
        runs = [(m, 1, pipe.run("joint", m, prompt=prompt, steps=args.steps, seed=7)) for m in pair]
        runs += [(m, 2, two) for m in pair]
        for m, k, out in runs:
            generated = out.aux if k == 2 else {m: out.aux}
            back = pipe.run("estimate", m, video=out.rgb, prompt=prompt, steps=1, seed=11).aux
            for i, clip in enumerate(clips):
                joint_rows.append((family, m, k, _agreement(m, generated[m][i], back[i], clip)))

    print("\nestimation, object pixels, mean over clips (one pass of 3 streams vs 3 single-stream passes)")
    print("| family | modality | metric | 3 single passes | one pass | clips |")
    print("|---|---|---|---|---|---|")
    table = {}
    for family, m, a, b in rows:
        table.setdefault((family, m), []).append((a, b))
    pooled = {}
    for (family, m), values in table.items():
        v = np.array(values, float)
        a, b = np.nanmean(v[:, 0]), np.nanmean(v[:, 1])
        pooled.setdefault(m, []).extend(values)
        print(f"| {family} | {m} | {scores.HEADLINE[m]} | {a:.3f} | {b:.3f} | {len(v)} |")
    for m, values in pooled.items():
        v = np.array(values, float)
        diff = v[:, 1] - v[:, 0]
        spread = np.nanstd(diff) / np.sqrt(np.sum(np.isfinite(diff)))
        print(f"| all | {m} | {scores.HEADLINE[m]} | {np.nanmean(v[:, 0]):.3f} | {np.nanmean(v[:, 1]):.3f} "
              f"(difference {np.nanmean(diff):+.3f} +- {spread:.3f}) | {len(v)} |")
    print("\ntime per video (median over rounds, after compiling)")
    for name, values in times.items():
        print(f"  {name}: {1000 * np.median(values):.1f} ms")
    print("\njoint generation: estimate-back consistency (RGB with 1 vs 2 generated modalities)")
    print("| modality | metric | k = 1 | k = 2 | clips |")
    print("|---|---|---|---|---|")
    by = {}
    for family, m, k, value in joint_rows:
        by.setdefault((m, k), []).append(value)
    for m in sorted({m for _, m, _, _ in joint_rows}):
        one, two = by.get((m, 1), []), by.get((m, 2), [])
        fmt = lambda v: f"{np.nanmean(v):.3f}" if len(v) else "-"  # noqa: E731
        print(f"| {m} | {scores.HEADLINE[m]} | {fmt(one)} | {fmt(two)} | {max(len(one), len(two))} |")


if __name__ == "__main__":
    main()
