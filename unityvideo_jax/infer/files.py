"""`unityvideo sample`'s work: read the input videos, run one task, write the videos and a JSON.

One modality (`--modality depth`) runs `Pipeline.run` (`sample_to_files`); several, or any
`--condition NAME=VIDEO`, run `Pipeline.run_streams` (`streams_to_files`): RGB plus one stream per
modality in one joint attention pass. `plan_streams` checks the flags before anything is loaded.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.infer.pipeline import Pipeline
from unityvideo_jax.infer.video import side_by_side, write_mp4
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.atomic import write_text
from unityvideo_jax.storage.paths import as_path
from unityvideo_jax.storage.staging import stage


def _read(path: str, config, what: str) -> tuple[np.ndarray, tuple[int, int, int]]:
    """`path` resampled to the config's frames and size, uint8 (1, F, H, W, 3), and the source's
    (frames read, height, width)."""
    from unityvideo_jax.data.ingest.video_reader import VideoError, read_video, sample_frames

    d = config.data
    path = str(stage(path, what=what))  # a gs:// video is read from the local cache
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        frames = read_video(path, d.height, d.width)
        video = sample_frames(frames, d.frames, path)
    except VideoError as err:
        raise ValueError(f"{what}: {err}") from None
    return video[None], (len(frames), *_source_size(path))


def _source_size(path: str) -> tuple[int, int]:
    """(height, width) of a video file's frames as stored."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(path)
    try:
        with warnings.catch_warnings():  # ffmpeg is fork+exec'd: JAX's fork warning does not apply
            warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
            meta = next(reader)
    finally:
        reader.close()
    width, height = meta["source_size"]
    return int(height), int(width)


def read_input(path: str, config, what: str = "--input") -> np.ndarray:
    """An input video resampled to the config's frames and size: uint8 (1, F, H, W, 3)."""
    return _read(path, config, what)[0]


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


def parse_modalities(text: str | None) -> list[str]:
    """`--modality depth,flow,segmentation` -> our names (`raft` is `flow`), in the order given."""
    if text is None:
        return []
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise ValueError(f"--modality {text!r}: expected names separated by commas, e.g. depth,flow,segmentation")
    return [modalities.get(name).name for name in names]


def parse_conditions(text: str | None) -> dict[str, str]:
    """`--condition depth=a.mp4,skeleton=b.mp4` -> {modality name: video path or gs:// URL}."""
    if text is None:
        return {}
    pairs = {}
    for part in (p.strip() for p in text.split(",")):
        name, equals, path = part.partition("=")
        if not equals or not name.strip() or not path.strip():
            raise ValueError(f"--condition {part!r}: expected NAME=VIDEO pairs separated by commas, "
                             "e.g. --condition depth=a.mp4,skeleton=b.mp4")
        name = modalities.get(name.strip()).name
        if name in pairs:
            raise ValueError(f"--condition names {name} twice: give one video per modality")
        pairs[name] = path.strip()
    return pairs


def plan_streams(task: str, modality: str | None, condition: str | None,
                 input_path: str | None) -> tuple[list[str], dict[str, str]]:
    """The checked flags of `unityvideo sample`: (modalities to generate, {condition modality: video}).
    One modality and no condition is the single-stream run (`sample_to_files`); anything else runs
    every stream in one pass (`streams_to_files`). Raises ValueError naming the flag at fault."""
    generate, conditions = parse_modalities(modality), parse_conditions(condition)
    check_streams(task, generate, conditions, input_path)
    return generate, conditions


def check_streams(task: str, generate: list[str], conditions: dict[str, str], input_path: str | None) -> None:
    """What `plan_streams` checks, on parsed names (our names, see `parse_modalities`)."""
    twice = [name for name in generate if generate.count(name) > 1 or name in conditions]
    if twice:
        where = "in --modality" if twice[0] not in conditions else "in --modality and --condition"
        raise ValueError(f"the modality {twice[0]} is named twice ({where}): name each modality once, to "
                         "generate (--modality) or as a clean stream (--condition)")
    if not generate and not conditions:
        raise ValueError("--modality is required: one name or several (depth,flow), or with --task condition "
                         "the condition videos as --condition NAME=VIDEO,...")
    if task == "estimate" and not input_path:
        raise ValueError("--task estimate needs --input: pass an RGB video")
    if task == "estimate" and not generate:
        raise ValueError("--task estimate needs --modality: the modalities to estimate (--condition videos are "
                         "clean streams the estimate reads)")
    if task == "joint" and not generate:
        raise ValueError("--task joint needs --modality: the modalities generated with the RGB")
    if len(generate) == 1 and not conditions:
        return  # today's single-stream run
    if task == "condition" and not conditions:
        raise ValueError("--task condition with several modalities needs one video per condition: "
                         "--condition depth=a.mp4,skeleton=b.mp4 (--modality then names modalities generated "
                         "with the RGB)")
    if task == "condition" and input_path:
        raise ValueError("--task condition with --condition takes no --input: pass every condition video as "
                         "--condition NAME=VIDEO")
    if task == "joint" and input_path:
        raise ValueError("--task joint takes no --input (it generates the RGB); pass clean modality videos "
                         "as --condition NAME=VIDEO")


def _same_shapes(sources: dict[str, tuple[int, int, int]]) -> None:
    """Every condition video (and --input beside them) shows the same frames at the same size."""
    if len(set(sources.values())) > 1:
        listed = ", ".join(f"{what} {f}x{h}x{w}" for what, (f, h, w) in sources.items())
        raise ValueError(f"the condition videos have different shapes ({listed}; frames x height x width): "
                         "pass videos of the same length and size, frame for frame")


def streams_to_files(pipeline: Pipeline, task: str, generate: list[str], output: str, *,
                     conditions: dict[str, str] | None = None, prompt: str | None = None,
                     input_path: str | None = None, steps: int | None = None, guidance: float | None = None,
                     seed: int = 0, method: str | None = None) -> dict:
    """Run `task` on RGB plus every modality of `generate` (generated) and `conditions` ({name: video},
    clean) in one pass (`Pipeline.run_streams`). Writes OUTPUT (RGB | each stream side by side, generated
    ones first), OUTPUT.rgb.mp4, OUTPUT.<modality>.mp4 per stream and OUTPUT.json, whose `streams` lists
    each stream's name, role (generated, input or condition) and file. Returns the JSON record."""
    generate = [modalities.get(m).name for m in generate]
    conditions = {modalities.get(m).name: path for m, path in (conditions or {}).items()}
    check_streams(task, generate, conditions, input_path)
    output = as_path(output, "--output")
    bucket.check(str(output.parent), write=True, what="--output")  # before the sampling, not after
    sources, videos, video = {}, {}, None
    if input_path:
        video, sources["--input"] = _read(input_path, pipeline.config, "--input")
    for name, path in conditions.items():
        videos[name], sources[f"--condition {name}={path}"] = _read(path, pipeline.config, f"--condition {name}")
    if conditions:
        _same_shapes(sources)
    steps, guidance, method = pipeline.sampling(steps, guidance, method)
    out = pipeline.run_streams(task, generate, conditions=videos, prompt=prompt,
                               video=video if task == "estimate" else None, steps=steps, guidance=guidance,
                               seed=seed, method=method)
    stem = output.with_suffix("")
    names = list(generate) + list(conditions)
    files = {"side_by_side": str(write_mp4(output, side_by_side(out.rgb[0], *(out.aux[n][0] for n in names)))),
             "rgb": str(write_mp4(f"{stem}.rgb.mp4", out.rgb[0]))}
    streams = [dict(name="rgb", role="input" if task == "estimate" else "generated", file=files["rgb"])]
    for name in names:
        files[name] = str(write_mp4(f"{stem}.{name}.mp4", out.aux[name][0]))
        role = "condition" if name in conditions else "generated"
        streams.append(dict(name=name, role=role, file=files[name], **({"source": conditions[name]}
                                                                       if role == "condition" else {})))
    record = dict(task=task, modalities=list(generate), conditions=conditions, prompt=prompt, input=input_path,
                  seed=seed, steps=steps, guidance=guidance, method=method, config=pipeline.config.name,
                  streams=streams, files=files, timings=out.timings)
    write_text(f"{stem}.json", json.dumps(record, indent=2))
    return record
