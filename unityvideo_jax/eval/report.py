"""An evaluation result (evaluate.py) as results.json, results.md and PNG plots.

The markdown leads with the verdict the evaluation exists for: per family and modality, the model
against the average-map baseline on object pixels. Then one table per task with every metric on
both scopes, the best value of each metric and scope in bold (↓: lower is better).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from unityvideo_jax import modalities
from unityvideo_jax.eval.metrics import LOWER_IS_BETTER
from unityvideo_jax.eval.scores import HEADLINE, SCOPES
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.atomic import output_folder
from unityvideo_jax.storage.paths import as_path, is_url

TASK_TITLES = {
    "estimate": "Modality estimation (RGB -> modality)",
    "estimate_streams": "Modality estimation of all the family's modalities in one pass (RGB -> k modalities)",
    "condition": "Conditional generation (modality -> RGB); consistency = the modality estimated back from it",
    "joint": "Joint generation (text -> RGB + modality)",
    "joint_streams": "Joint generation with two modalities in one pass (text -> RGB + 2 modalities); consistency = "
                     "each modality estimated back from the generated RGB",
}
TASK_NOTES = {
    "estimate": "`constant` and `average` use no input; a model that does not beat `average` learned a prior.",
    "condition": "`real`: the real clip's flicker and warping error, and the model's estimate from the real RGB "
                 "(the consistency a perfect generator would get); `unrelated`: the estimate from the generated video "
                 "scored against another clip of the family (the consistency of a video that ignores its condition).",
    "joint": "`real`: the flicker of the real clip with the same caption. No ground truth fixes where objects are in "
             "a generated video, so its object scope is empty; the modality metrics score the generated modality "
             "against the one estimated back from the generated video (agreement).",
    "estimate_streams": "`streams`: every modality of the clip's family estimated together in one pass, each scored as "
                        "the single-stream estimate is; `single`: the estimate task's score of the same clip and "
                        "modality (one pass per modality).",
    "joint_streams": "Agreement of each generated modality (standing as the ground truth, all pixels) with the same "
                     "modality estimated back from the generated RGB. `streams`: RGB generated with two modalities in "
                     "one pass (the pairs are in settings.joint_streams_pairs); `single`: RGB generated with that "
                     "modality alone, same clip and caption.",
}
TASK_METHODS = {
    "estimate": ("model", "constant", "average"),
    "condition": ("model", "real", "unrelated"),
    "joint": ("model", "real"),
    "estimate_streams": ("streams", "single"),
    "joint_streams": ("streams", "single"),
}


def format_number(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def metric_label(metric: str) -> str:
    return f"{metric} ↓" if metric in LOWER_IS_BETTER else metric


def best(values: list, metric: str) -> float | None:
    """The best of `values` (None skipped) for `metric`'s direction."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return min(present) if metric in LOWER_IS_BETTER else max(present)


def bold_best(values: list, metric: str) -> list[str]:
    """Formatted values, the best in bold when it is the only best."""
    top = best(values, metric)
    unique = sum(v == top for v in values if v is not None) == 1 and len(values) > 1
    return [f"**{format_number(v)}**" if unique and v == top else format_number(v) for v in values]


def _metrics_of(entry: dict, methods: tuple[str, ...]) -> list[str]:
    names: dict[str, None] = {}
    for method in methods:
        for scope in SCOPES:
            names.update(dict.fromkeys(entry.get(method, {}).get(scope, {})))
    return list(names)


def _value(entry: dict, method: str, scope: str, metric: str):
    return entry.get(method, {}).get(scope, {}).get(metric)


def task_table(task: str, results: dict) -> str:
    """Markdown: one row per (family, modality, metric), a column per (scope, method)."""
    methods = TASK_METHODS[task]
    header = ["family", "modality", "clips", "metric"] + [f"{m} ({s})" for s in SCOPES for m in methods]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for family, by_modality in results["tasks"].get(task, {}).items():
        for modality, entry in by_modality.items():
            for metric in _metrics_of(entry, methods):
                cells = []
                for scope in SCOPES:
                    cells += bold_best([_value(entry, m, scope, metric) for m in methods], metric)
                head = [family, modality, str(entry["clips"]), metric_label(metric)]
                lines.append("| " + " | ".join(head + cells) + " |")
    return "\n".join(lines)


def margin(model: float | None, baselines: list, metric: str) -> float | None:
    """How much better `model` is than the best baseline (positive: better), in the metric's units."""
    top = best(baselines, metric)
    if model is None or top is None:
        return None
    return top - model if metric in LOWER_IS_BETTER else model - top


def verdict_table(results: dict, scope: str = "object") -> str:
    """Markdown: each modality's headline estimation metric, the model against both no-input
    baselines, per family and pooled over the families. Both baselines, because a model whose
    output carries no information scores like the constant (depth alignment turns any uncorrelated
    prediction into one), which can beat the average map."""
    lines = [f"| family | modality | metric | model | average map | constant | margin over the best baseline "
             f"| model beats both ({scope}) |", "|---|---|---|---|---|---|---|---|"]
    methods = ("model", "average", "constant")
    per_modality: dict[str, list[tuple]] = {}

    def row(family: str, modality: str, values: tuple) -> None:
        metric = HEADLINE[modality]
        ahead = margin(values[0], list(values[1:]), metric)
        beats = "–" if ahead is None else ("yes" if round(ahead, 3) > 0 else "no")  # by more than the shown digits
        numbers = [format_number(v) for v in values]
        signed = "–" if ahead is None else f"{ahead:+.3f}"
        lines.append("| " + " | ".join([family, modality, metric_label(metric)] + numbers + [signed, beats]) + " |")

    for family, by_modality in results["tasks"].get("estimate", {}).items():
        for modality, entry in by_modality.items():
            values = tuple(_value(entry, m, scope, HEADLINE[modality]) for m in methods)
            per_modality.setdefault(modality, []).append(values)
            row(family, modality, values)
    # Pooled: the mean over the families of each family's mean, so each family counts once.
    for modality, rows in per_modality.items():
        if len(rows) > 1 and all(v is not None for values in rows for v in values):
            row(f"pooled ({len(rows)} families)", modality, tuple(math.fsum(v) / len(v) for v in zip(*rows)))
    return "\n".join(lines)


def markdown(results: dict) -> str:
    s = results["settings"]
    parts = [
        f"# Evaluation of {s.get('config') or 'a model'} on held-out UniSynth clips",
        f"{s['count']} {s.get('split', 'validation')} clips per family ({', '.join(s['families'])}), seed {s['seed']}; "
        f"sampler {s['method']}, "
        f"{s['steps']} steps ({s.get('estimate_steps', s['steps'])} for estimation), guidance {s['guidance']}, "
        f"{s['samples']} sample(s) averaged. Scopes: all pixels, and "
        "object pixels (instances > 0). Baselines use no input: `constant` (one training value everywhere) and "
        f"`average` (the training set's per-pixel map, {s['baseline_clips']} training clips per family). Depth is "
        "aligned per video by least squares scale and shift in inverse depth.",
    ]
    if "estimate" in results["tasks"]:
        parts += ["## Verdict: model against the no-input baselines on object pixels", verdict_table(results)]
    for task, title in TASK_TITLES.items():
        if task in results["tasks"]:
            parts += [f"## {title}", TASK_NOTES[task] + _pass_seconds(task, results), task_table(task, results)]
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in results.get("timings", {}).items())
    parts += ["## Timings", timings or "–"]
    return "\n\n".join(parts) + "\n"


def _pass_seconds(task: str, results: dict) -> str:
    """The one-pass row's pipeline seconds beside its single-stream task's, where both ran."""
    timings, single = results.get("timings", {}), {"estimate_streams": "estimate"}.get(task)
    if single is None or task not in timings or single not in timings:
        return ""
    return (f" Pipeline time: {timings[task]:.1f} s for one pass per clip, {timings[single]:.1f} s for one pass per "
            f"modality ({single}).")


def _json_ready(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def _bars(axis, groups: list[str], series: dict[str, list], title: str) -> None:
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        axis.bar(xs, [math.nan if v is None else v for v in values], width, label=name)
    axis.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=7)
    axis.set_title(title, fontsize=9)


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def plot_task(results: dict, task: str, metrics_of, path: Path, columns: int = 5) -> Path | None:
    """One PNG for `task`: a panel per (scope, modality, metric), grouped bars per family and method.
    `metrics_of(modality)` lists the metrics a modality's panels show. A panel without a single value
    (e.g. object pixels of joint generation, which has no ground-truth objects) is not drawn empty: the
    figure's footnote names it and says why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_family = results["tasks"].get(task, {})
    shown = {m for entry in by_family.values() for m in entry}
    shown = [m for m in modalities.NAMES if m in shown]
    methods = TASK_METHODS[task]
    panels, missing = [], []
    for scope in SCOPES:
        for modality in shown:
            for metric in metrics_of(modality):
                families = [f for f, entry in by_family.items() if modality in entry]
                series = {m: [_value(by_family[f][modality], m, scope, metric) for f in families] for m in methods}
                if any(_finite(v) for values in series.values() for v in values):
                    panels.append((f"{modality}: {metric_label(metric)} ({scope})", families, series))
                else:
                    missing.append(f"{modality} {metric_label(metric)} ({scope})")
    if not panels:
        return None
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for axis, (title, families, series) in zip(axes.flat, panels):
        _bars(axis, families, series, title)
    for axis in axes.flat[len(panels):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    if missing:
        note = f"Not drawn, no value to show: {', '.join(missing)}"
        generated = task in ("joint", "joint_streams")
        note += " (joint generation has no ground truth, so no object pixels)." if generated else "."
        figure.text(0.01, 0.005, note, fontsize=7, wrap=True)
        figure.subplots_adjust(bottom=max(figure.subplotpars.bottom, 0.12 / rows + 0.05))
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


PLOTTED = {
    "estimate": lambda modality: (HEADLINE[modality],),
    "condition": lambda modality: ("warp_error", HEADLINE[modality]),
    "joint": lambda modality: ("flicker",),
    "estimate_streams": lambda modality: (HEADLINE[modality],),
    "joint_streams": lambda modality: (HEADLINE[modality],),
}


def write_report(results: dict, directory) -> dict[str, Path]:
    """Write results.json, results.md and <task>.png into `directory` (a folder or a gs:// URL, where the
    files are uploaded once all are written); returns their paths."""
    target = as_path(directory, "--output")
    bucket.check(str(target), write=True, what="--output")
    with output_folder(target) as local:
        written = {"json": local / "results.json", "markdown": local / "results.md"}
        written["json"].write_text(json.dumps(_json_ready(results), indent=1))
        written["markdown"].write_text(markdown(results))
        for task, metrics_of in PLOTTED.items():
            png = plot_task(results, task, metrics_of, local / f"{task}.png")
            if png is not None:
                written[task] = png
    if is_url(str(target)):
        return {key: target / path.name for key, path in written.items()}
    return written
