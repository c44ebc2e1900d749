"""A UniSynth clip as a record (schema.py): its modality renderings, caption embedding and truth."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.records import schema
from unityvideo_jax.data.render import renderings
from unityvideo_jax.data.unisynth.clips import Clip


def clip_truth(clip: Clip) -> dict:
    """The ground truth of a clip under the record's truth/ names and dtypes."""
    arrays = dict(
        depth=clip.depth,
        flow=clip.flow,
        instances=clip.instances,
        keypoints=clip.keypoints,
        visibility=clip.visibility,
        parts=clip.parts,
        uv=clip.uv,
    )
    return {schema.TRUTH + k: np.asarray(v, schema.TRUTH_SPEC[k][0]) for k, v in arrays.items()}


def clip_record(
    clip: Clip,
    *,
    text: np.ndarray,
    record_id: str,
    modality_names: Sequence[str] = modalities.NAMES,
    encode_video: Callable[[np.ndarray], np.ndarray] | None = None,
    truth: bool = True,
) -> dict:
    """The record of `clip`: RGB and the renderings of `modality_names`, each passed through
    `encode_video` (None keeps uint8 pixels), the caption embedding `text` (valid tokens) and,
    with `truth`, the ground truth evaluation needs."""
    encode = encode_video or (lambda video: video)
    record = {schema.RGB: encode(clip.rgb)}
    for name in modality_names:
        record[schema.video_key(name)] = encode(renderings.render(name, clip))
    record.update(text=np.asarray(text), caption=clip.caption, source=clip.family, id=record_id)
    if truth:
        record.update(clip_truth(clip))
    return record
