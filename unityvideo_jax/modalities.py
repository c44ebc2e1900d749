"""The modality registry: names, release names, prompts and the pixel-aligned flag.

The order of `MODALITIES` is the index a `modality` id refers to everywhere (model tables, data
records, metrics); it follows the released checkpoint's order (depth, raft, segmentation,
skeleton, densepose). Prompts are byte-exact copies of the release's so its weights stay valid.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Modality:
    name: str  # our name
    release_name: str  # the key in the released checkpoint's `modality_embeddings.<name>`
    prompt: str  # the modality prompt the aux stream cross-attends to
    pixel_aligned: bool  # curriculum stage 1 trains only on these (paper)


MODALITIES: tuple[Modality, ...] = (
    Modality(
        "depth",
        "depth",
        "depth map visualization, scene depth from camera, near in warm colors and far in cool colors.",
        True,
    ),
    Modality(
        "flow",
        "raft",
        "optical flow visualization showing motion direction with color and magnitude with intensity.",
        True,
    ),
    Modality(
        "segmentation",
        "segmentation",
        "segmentation mask of foreground objects against background.",
        False,
    ),
    Modality(
        "skeleton",
        "skeleton",
        "human skeleton pose visualization with body keypoints and limbs.",
        False,
    ),
    Modality(
        "densepose",
        "densepose",
        "densepose visualization with body part UV coordinates.",
        True,
    ),
)

NAMES: tuple[str, ...] = tuple(m.name for m in MODALITIES)
NUM_MODALITIES = len(MODALITIES)


def index(name: str) -> int:
    """The id of a modality given our name or the release's name (`raft` is `flow`)."""
    for i, m in enumerate(MODALITIES):
        if name in (m.name, m.release_name):
            return i
    raise ValueError(
        f"unknown modality {name!r}: expected one of {', '.join(NAMES)} (or the release name 'raft' for flow)"
    )


def get(name_or_index: str | int) -> Modality:
    """The `Modality` for a name, release name or id."""
    if isinstance(name_or_index, str):
        return MODALITIES[index(name_or_index)]
    if not 0 <= int(name_or_index) < NUM_MODALITIES:
        raise ValueError(
            f"unknown modality id {name_or_index}: expected 0..{NUM_MODALITIES - 1} ({', '.join(NAMES)})"
        )
    return MODALITIES[int(name_or_index)]

