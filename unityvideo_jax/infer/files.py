"""`unityvideo sample`'s work: read the input video, run one task, write the videos and a JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.infer.pipeline import Pipeline
from unityvideo_jax.infer.video import side_by_side, write_mp4
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.atomic import write_text
from unityvideo_jax.storage.paths import as_path
from unityvideo_jax.storage.staging import stage


def read_input(path: str, config) -> np.ndarray:
    """An input video resampled to the config's frames and size: uint8 (1, F, H, W, 3)."""
    from unityvideo_jax.data.ingest.video_reader import VideoError, read_video, sample_frames

    d = config.data
    path = str(stage(path, what="--input"))  # a gs:// video is read from the local cache
    if not Path(path).is_file():
        raise FileNotFoundError(f"--input {path} does not exist")
    try:
        video = sample_frames(read_video(path, d.height, d.width), d.frames, path)
    except VideoError as err:
        raise ValueError(f"--input: {err}") from None
    return video[None]


def sample_to_files(pipeline: Pipeline, task: str, modality: str, output: str, *, prompt: str | None = None,
                    input_path: str | None = None, steps: int | None = None, guidance: float | None = None,
                    seed: int = 0, method: str | None = None) -> dict:
    """Run one task and write OUTPUT (RGB | modality side by side), OUTPUT.rgb.mp4, OUTPUT.<modality>.mp4
    and OUTPUT.json (task, modality, prompt, seed, steps, timings). Returns the JSON record.
    `steps`, `guidance`, `method`: None takes the pipeline config's `config.infer` values."""
    name = modalities.get(modality).name
    if task in ("estimate", "condition") and not input_path:
        what = "an RGB video" if task == "estimate" else f"a {name} visualisation video"
        raise ValueError(f"--task {task} needs --input: pass {what}")
    output = as_path(output, "--output")
    bucket.check(str(output.parent), write=True, what="--output")  # before the sampling, not after
    given = read_input(input_path, pipeline.config) if input_path else None
    steps, guidance, method = pipeline.sampling(steps, guidance, method)
    out = pipeline.run(task, name, prompt=prompt, video=given if task == "estimate" else None,
                       condition=given if task == "condition" else None, steps=steps, guidance=guidance,
                       seed=seed, method=method)
    stem = output.with_suffix("")
    files = {
        "side_by_side": str(write_mp4(output, side_by_side(out.rgb[0], out.aux[0]))),
        "rgb": str(write_mp4(f"{stem}.rgb.mp4", out.rgb[0])),
        name: str(write_mp4(f"{stem}.{name}.mp4", out.aux[0])),
    }
    record = dict(task=task, modality=name, prompt=prompt, input=input_path, seed=seed, steps=steps,
                  guidance=guidance, method=method, config=pipeline.config.name, files=files, timings=out.timings)
    write_text(f"{stem}.json", json.dumps(record, indent=2))
    return record
