"""UniSynth as a TFDS dataset written to ArrayRecord without TensorFlow; `tfds.data_source` reads it.

One split per training family (the pipeline's sources). Each example is a record (schema.py) in
nested form: video/{rgb, <every modality>} as uint8 pixels, truth/{...}, text (valid tokens),
caption, source, id. Clips use seeds 0..clips_per_family-1, the training range (pipeline.py keeps
evaluation seeds apart).

    builder = UniSynth(config=UniSynthConfig(name="tiny"), data_dir=DIR, file_format="array_record")
    builder.download_and_prepare()
    source = tfds.data_source("unisynth/tiny", split="objects", data_dir=DIR)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from unityvideo_jax import modalities
from unityvideo_jax.data.records import schema
from unityvideo_jax.data.records.clip_records import clip_record
from unityvideo_jax.data.unisynth.clips import TRAIN_FAMILIES, render_clip
from unityvideo_jax.model.text.encoders import text_encoder

_BYTES = tfds.features.Encoding.BYTES  # raw array bytes: no per-value protobuf lists
FILE_FORMAT = "array_record"


@dataclasses.dataclass(eq=False)
class UniSynthConfig(tfds.core.BuilderConfig):
    frames: int = 9
    height: int = 64
    width: int = 64
    clips_per_family: int = 256
    text_encoder: str = "minilm"


def _tensor(shape, dtype) -> tfds.features.Tensor:
    return tfds.features.Tensor(shape=shape, dtype=dtype, encoding=_BYTES)


def nest(record: dict) -> dict:
    """A flat record as the builder's nested example."""
    example: dict = {}
    for key, value in record.items():
        group, _, name = key.rpartition("/")
        (example.setdefault(group, {}) if group else example)[name] = value
    return example


def flatten(example: dict) -> dict:
    """A decoded nested example as a flat record (bytes strings become str)."""
    record = {}
    for key, value in example.items():
        if isinstance(value, dict):
            record.update({f"{key}/{name}": v for name, v in value.items()})
        else:
            record[key] = value.decode() if isinstance(value, bytes) else value
    return record


class UniSynth(tfds.core.GeneratorBasedBuilder):
    """UniSynth clips with every modality rendering and their ground truth."""

    name = "unisynth"
    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {
        "1.0.0": "First release.",
        "1.1.0": "Segmentation palette: the three largest instances in red, green and blue (blends read as chances).",
        "1.2.0": "DensePose and skeletons as charts (R: on the body or the joint strength; G, B: the place on the chart).",
    }
    BUILDER_CONFIGS = [
        UniSynthConfig(name="tiny", description="9 frames of 64x64: the tiny pixel-space configs"),
        UniSynthConfig(name="test", description="5 frames of 32x32, 4 clips per family", frames=5, height=32,
                       width=32, clips_per_family=4),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        f, h, w = c.frames, c.height, c.width
        spec = schema.TRUTH_SPEC
        truth_shapes = dict(
            depth=(f, h, w), flow=(f, h, w, 2), instances=(f, h, w), keypoints=(f, None, 17, 2),
            visibility=(f, None, 17), parts=(f, h, w), uv=(f, h, w, 2),
        )  # fmt: skip
        video = {name: _tensor((f, h, w, 3), np.uint8) for name in ("rgb",) + modalities.NAMES}
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "video": video,
                    "truth": {k: _tensor(s, np.dtype(spec[k][0])) for k, s in truth_shapes.items()},
                    "text": _tensor((None, None), np.float32),
                    "caption": tfds.features.Text(),
                    "source": tfds.features.Text(),
                    "id": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {family: self._generate_examples(family) for family in TRAIN_FAMILIES}

    def _generate_examples(self, family: str):
        c = self.builder_config
        text = text_encoder(c.text_encoder)
        for seed in range(c.clips_per_family):
            clip = render_clip(family, seed, c.frames, c.height, c.width)
            record = clip_record(
                clip, text=text.encode_one(clip.caption).astype(np.float32), record_id=f"{family}/{seed}"
            )
            yield record["id"], nest(record)


def build(data_dir: str, config: UniSynthConfig | str = "tiny") -> tfds.core.DatasetBuilder:
    """Write UniSynth under `data_dir` (a no-op if it is there) and return its builder."""
    builder = UniSynth(config=config, data_dir=data_dir, file_format=FILE_FORMAT)
    builder.download_and_prepare()
    return builder
