"""Parameter counts per part of a model, from shapes alone (nothing is allocated)."""

from __future__ import annotations

import math

from flax import nnx

from unityvideo_jax.model.dit.transformer import UnityDiT
from unityvideo_jax.weights.tree import flatten

# Top-level attributes of UnityDiT grouped into the parts a user thinks in.
PARTS = {
    "patch_embedding": "patch embedding",
    "condition_embedder": "time + text embedding",
    "blocks": "transformer blocks",
    "head": "RGB head",
    "flow_patch_embedding": "aux patch embedding",
    "flow_in": "aux input linear",
    "modality_embeddings": "modality embeddings (token switcher)",
    "modality_switcher": "modality switcher table (AdaLN)",
    "flow_head": "aux head",
}


def parameter_counts(model_config) -> dict[str, int]:
    """{part: number of parameters}, in `PARTS` order, for a model built from `model_config`."""
    abstract = nnx.eval_shape(lambda: UnityDiT(model_config, rngs=nnx.Rngs(0)))
    flat = flatten(nnx.to_pure_dict(nnx.state(abstract, nnx.Param)))
    counts: dict[str, int] = {}
    for path, leaf in flat.items():
        part = path.split(".")[0]
        counts[part] = counts.get(part, 0) + math.prod(leaf.shape)
    return {p: counts[p] for p in PARTS if p in counts}
