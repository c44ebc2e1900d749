"""The parts a Wan base checkpoint lacks, started the way the release started them.

A diffusers Wan model has one stream. The two-stream parts begin as copies of the RGB ones (the
aux patch embedding, the flow head, one copy per modality when the head is per modality) or as
zeros (flow_in, the modality tables), so at step 0 the modality id has no effect and, in the release
flavour, neither do the aux stream's values (the RGB prediction still attends to the aux tokens).
"""

from __future__ import annotations

# new part -> the base parameter it starts as (broadcast over a per-modality stack)
COPIES = {
    "flow_patch_embedding.kernel": "patch_embedding.kernel",
    "flow_patch_embedding.bias": "patch_embedding.bias",
    "flow_head.proj_kernel": "head.proj_kernel",
    "flow_head.proj_bias": "head.proj_bias",
    "flow_head.scale_shift_table": "head.scale_shift_table",
}
ZEROS = frozenset({"flow_in.kernel", "flow_in.bias", "modality_embeddings", "modality_switcher"})


def is_new_part(path: str) -> bool:
    return path in COPIES or path in ZEROS
