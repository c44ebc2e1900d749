"""`unityvideo demo`: the whole story on a CPU, on the embedded synthetic world.

1. builds a small UniSynth set (ArrayRecord, with exact ground truth and caption embeddings),
2. trains the small two-stream model of configs/demo.py on all three tasks and five modalities for a
   bounded budget,
3. evaluates estimation, conditional generation and joint generation on held-out clips against
   baselines that see no input (a constant and the training set's average map),
4. writes a report folder: per-task, per-modality video grids (mp4 and GIF: input | prediction |
   ground truth), loss curves, the metrics table, and an index.html that shows them all. With the
   evaluation, the metrics add the multi-stream estimate (each clip's modalities in one pass, beside
   one pass per modality) and the videos one grid per family of it, taken from that evaluation.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import numpy as np

from unityvideo_jax.config import get_config
from unityvideo_jax.data.render import renderings
from unityvideo_jax.infer.video import side_by_side, write_gif, write_mp4

DEMO_CONFIG = "demo"  # configs/demo.py: the tiny config tuned to read its input in 10 CPU minutes
# What a panel cannot show, said beside it rather than left for the reader to guess.
PANEL_NOTES = {
    "estimate": "Estimates are the model's posterior mean (one sampling step, averaged over draws): where the model "
                "is unsure they blur toward what the training set looks like on average, and each token's 4 x 4 "
                "pixel patch shows as a block. The third panel draws what the scores decode from it, cleanly. "
                "An unsure skeleton is dim: no joint is drawn full-bright, and the "
                "scores read its joints from the strongest spots, each named by its colour's place on the "
                "joint chart. An unsure flow is greyer: its "
                "chroma is read as the mean motion. In DensePose the red is the chance that a pixel is on the body "
                "and the green and blue, taken relative to the red, the mean of where on the body chart it may lie, "
                "so an unsure pixel reads as a likely part (often the torso, in the chart's middle).",
    "joint": "Joint generation has no ground truth to show: the metrics score how well the generated modality agrees "
             "with the one the model estimates back from the generated video.",
}


def demo_config(output: Path, clips_per_family: int, config_name: str = DEMO_CONFIG):
    from unityvideo_jax.data.records.unisynth_tfds import UniSynthConfig, build

    config = get_config(config_name)
    d = config.data
    data = UniSynthConfig(name=f"demo_{d.frames}x{d.height}x{d.width}_{clips_per_family}", frames=d.frames,
                          height=d.height, width=d.width, clips_per_family=clips_per_family)
    builder = build(str(output / "data"), data)
    config.data.path = str(builder.data_path)
    config.parallel.devices = 1  # a CPU demo: one device
    return config


def loss_curves(metrics_file: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    steps = [r["step"] for r in rows]
    for key in ("loss", "loss_rgb", "loss_aux"):
        axes[0].plot(steps, [r.get(key, np.nan) for r in rows], label=key)
    for task in ("joint", "estimate", "condition"):
        axes[1].plot(steps, [r.get(f"loss/task/{task}", np.nan) for r in rows], label=task)
    for ax, title in zip(axes, ("loss per stream", "loss per task")):
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def video_grids(pipeline, config, out: Path, steps: int, samples: int, seed: int = 0,
                estimate_steps: int | None = None) -> list[dict]:
    """One held-out clip per training family; per modality it has: estimate and condition grids, and a
    joint generation from its caption. Rows: input | prediction | ground truth; an estimate shows,
    before the ground truth, what the scores read in it (renderings.render_reading)."""
    from unityvideo_jax.data.input.heldout import eval_clips
    from unityvideo_jax.data.unisynth.clips import TRAIN_FAMILIES

    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for clip in eval_clips(config, TRAIN_FAMILIES, 1, seed):
        for name in config.data.source_modalities[clip.family]:
            truth = renderings.render(name, clip)[None]
            est = pipeline.run("estimate", name, video=clip.rgb[None], prompt=clip.caption,
                               steps=estimate_steps or steps, samples=samples, seed=seed)
            cond = pipeline.run("condition", name, condition=truth, prompt=clip.caption, steps=steps, seed=seed)
            joint = pipeline.run("joint", name, prompt=clip.caption, steps=steps, seed=seed)
            grids = {
                "estimate": side_by_side(clip.rgb, est.aux[0], renderings.render_reading(name, est.aux[0]), truth[0]),
                "condition": side_by_side(truth[0], cond.rgb[0], clip.rgb),
                "joint": side_by_side(joint.rgb[0], joint.aux[0]),  # no third panel: nothing to compare with
            }
            for task, grid in grids.items():
                stem = out / f"{task}_{clip.family}_{name}"
                big = grid.repeat(4, axis=1).repeat(4, axis=2)  # 32-pixel clips are tiny on a screen
                write_mp4(f"{stem}.mp4", big)
                write_gif(f"{stem}.gif", grid, scale=4)
                entries.append(dict(task=task, family=clip.family, modality=name, caption=clip.caption,
                                    mp4=f"{stem.name}.mp4", gif=f"{stem.name}.gif", width=4 * grid.shape[2]))
    return entries


def streams_grids(draws: dict, out: Path) -> list[dict]:
    """One grid per family of the one-pass estimate of all its modalities, from the evaluation's draws
    {family: (clip, {modality: [uint8 (F, H, W, 3) draws]})}: the input video and each estimated
    modality (the mean of the draws) above, each modality's ground truth below."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for family, (clip, videos) in draws.items():
        names = list(videos)
        estimated = [np.clip(np.round(np.mean(np.stack(videos[m]).astype(np.float32), 0)), 0, 255).astype(np.uint8)
                     for m in names]
        top = side_by_side(clip.rgb, *estimated)
        bottom = side_by_side(np.full_like(clip.rgb, 255), *(renderings.render(m, clip) for m in names))
        gap = np.full((top.shape[0], 2, top.shape[2], 3), 255, np.uint8)
        grid = np.concatenate([top, gap, bottom], axis=1)
        stem = out / f"estimate_streams_{family}"
        write_mp4(f"{stem}.mp4", grid.repeat(4, axis=1).repeat(4, axis=2))
        write_gif(f"{stem}.gif", grid, scale=4)
        entries.append(dict(task="estimate_streams", family=family, modality=", ".join(names), caption=clip.caption,
                            mp4=f"{stem.name}.mp4", gif=f"{stem.name}.gif", width=132 * (1 + len(names))))
    return entries


def budgets_section(results: dict, shipped_results: dict, shipped_name: str) -> str:
    """Markdown: this run beside the shipped long-budget weights, on the same held-out clips."""
    from unityvideo_jax.eval.compare import comparison_table
    from unityvideo_jax.weights.shipped import SHIPPED

    entry = SHIPPED[shipped_name]
    long_name = f"{entry.steps:,} steps ({shipped_name}, shipped)"
    head = (f"What this run's budget buys beside what {entry.steps:,} steps of the same code buy: the weights that "
            f"ship with the package (shipped:{shipped_name}, trained by `{entry.command}`; BENCHMARKS.md has its "
            "time), scored on the same held-out test clips with the same settings.")
    return head + "\n\n" + comparison_table({"this run": results, long_name: shipped_results})


def shipped_budget(config_name: str) -> str | None:
    """The shipped long-budget weights the demo's report compares against, if this install has them."""
    from unityvideo_jax.weights.shipped import SHIPPED

    return "demo_long" if config_name == DEMO_CONFIG and "demo_long" in SHIPPED else None


def index_html(out: Path, entries: list[dict], summary: dict, metrics_md: str | None,
               budgets_md: str | None = None) -> Path:
    rows = []
    for task, what in (("estimate", "input video | estimated modality | what the scores read in it | ground truth"),
                       ("estimate_streams", "all the family's modalities estimated in one pass: input video | "
                                            "each estimated modality (top), each ground truth (bottom)"),
                       ("condition", "modality condition | generated video | ground-truth video"),
                       ("joint", "generated video | generated modality (from the caption alone: no ground "
                                 "truth fixes where things are, so there is none to show)")):
        if task == "estimate_streams" and not any(e["task"] == task for e in entries):
            continue  # evaluation not run: the grids come from its one-pass estimates
        cells = "".join(
            f"<figure><img src='videos/{html.escape(e['gif'])}' width='{e.get('width', 396)}'><figcaption>"
            f"{e['family']} / "
            f"{e['modality']} &middot; <a href='videos/{html.escape(e['mp4'])}'>mp4</a></figcaption></figure>"
            for e in entries if e["task"] == task
        )
        note = f"<p>{html.escape(PANEL_NOTES[task])}</p>" if task in PANEL_NOTES else ""
        rows.append(f"<h2>{task}: {what}</h2>{note}<div class='grid'>{cells}</div>")
    table = f"<pre>{html.escape(metrics_md)}</pre>" if metrics_md else "<p>(evaluation not run)</p>"
    if budgets_md:
        table += f"<h2>Two budgets</h2><pre>{html.escape(budgets_md)}</pre>"
    page = f"""<!doctype html><html><head><meta charset='utf-8'><title>unityvideo_jax demo</title>
<style>body{{font-family:sans-serif;margin:2em}} .grid{{display:flex;flex-wrap:wrap;gap:1em}}
figure{{margin:0}} figcaption{{font-size:12px}} pre{{font-size:12px;background:#f4f4f4;padding:1em}}</style></head>
<body><h1>unityvideo_jax demo</h1>
<p>{html.escape(json.dumps(summary))}</p>
<h2>Loss</h2><img src='loss_curves.png'>
<h2>Metrics on held-out clips</h2>{table}
{''.join(rows)}
</body></html>"""
    path = out / "index.html"
    path.write_text(page)
    return path


def run_demo(output: str, *, budget_minutes: float = 10.0, budget_steps: int | None = None,
             clips_per_family: int = 256, eval_count: int = 4, steps: int = 10, estimate_steps: int | None = 1,
             samples: int = 4, progress: bool = True, evaluate_model: bool = True,
             config_name: str = DEMO_CONFIG, compare_shipped: bool = True) -> Path:
    """Build data, train, evaluate and report into `output`; returns the index.html path. `config_name`
    picks the recipe (configs/demo.py, or configs/demo_long.py for the long budget); an existing run in
    `output` resumes from its last checkpoint. With the evaluation and `compare_shipped`, the 10-minute
    recipe's report also scores the long-budget weights that ship with the package (shipped:demo_long)
    on the same clips, side by side (budgets.md)."""
    from unityvideo_jax.data.input.iterator import make_iterator
    from unityvideo_jax.infer.pipeline import Pipeline
    from unityvideo_jax.train.loop import train

    out = Path(output).absolute()
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    config = demo_config(out, clips_per_family, config_name)
    timings["data_s"] = time.perf_counter() - start
    if budget_steps is not None:
        config.train.steps = int(budget_steps)
    else:
        config.train.steps = 1_000_000  # the time budget ends the run
    start = time.perf_counter()
    summary = train(config, str(out / "run"), lambda c, s: make_iterator(c, start_step=s), progress=progress,
                    time_budget_s=None if budget_steps is not None else 60.0 * budget_minutes)
    timings["train_s"] = time.perf_counter() - start
    pipeline = Pipeline.from_checkpoint(str(out / "run" / "checkpoints"))
    metrics_md, budgets_md, stream_draws = None, None, {}
    if evaluate_model:
        from unityvideo_jax.eval.evaluate import evaluate
        from unityvideo_jax.eval.report import markdown, write_report

        def keep_first(clip, index, draws):  # the first held-out clip of a family: the clip video_grids shows
            if index == 0:
                stream_draws[clip.family] = (clip, draws)

        start = time.perf_counter()
        results = evaluate(pipeline, config, count=eval_count, steps=steps, samples=samples,
                           estimate_steps=estimate_steps, streams=("estimate_streams",),
                           on_estimate_streams=keep_first)
        write_report(results, out / "metrics")
        metrics_md = markdown(results)
        timings["eval_s"] = time.perf_counter() - start
        shipped_name = shipped_budget(config_name) if compare_shipped else None
        if shipped_name is not None:
            start = time.perf_counter()
            shipped = Pipeline.from_checkpoint(f"shipped:{shipped_name}")
            shipped_results = evaluate(shipped, config, count=eval_count, steps=steps, samples=samples,
                                       estimate_steps=estimate_steps)
            write_report(shipped_results, out / f"metrics_{shipped_name}")
            budgets_md = budgets_section(results, shipped_results, shipped_name)
            (out / "budgets.md").write_text(budgets_md + "\n")
            timings["eval_shipped_s"] = time.perf_counter() - start
    start = time.perf_counter()
    entries = video_grids(pipeline, config, out / "videos", steps, samples, estimate_steps=estimate_steps)
    entries += streams_grids(stream_draws, out / "videos")
    loss_curves(out / "run" / "metrics.jsonl", out / "loss_curves.png")
    timings["report_s"] = time.perf_counter() - start
    info = dict(config=config.name, steps=int(summary.state.step), steps_per_second=round(summary.steps_per_second, 2),
                sampling_steps=steps, estimate_steps=estimate_steps or steps, averaged_samples=samples,
                **{k: round(v, 1) for k, v in timings.items()})
    (out / "summary.json").write_text(json.dumps(info, indent=2))
    return index_html(out, entries, info, metrics_md, budgets_md)
