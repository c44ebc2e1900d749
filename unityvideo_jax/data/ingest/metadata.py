"""The OpenUni / release metadata CSV: one row per clip.

Columns: `video` and `prompt` (required), one column per modality holding the path of an aligned
modality video (release names depth, raft, segmentation, skeleton, densepose; our `flow` also
works), an optional `source`; other columns are ignored. An empty cell means "not available".
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from unityvideo_jax import modalities

REQUIRED = ("video", "prompt")


@dataclasses.dataclass(frozen=True)
class Row:
    index: int  # 0-based data row (the header is not a row)
    video: str
    prompt: str
    modalities: dict[str, str]  # our modality name -> path
    source: str | None


def _modality_columns(fields: list[str]) -> dict[str, str]:
    columns = {}
    for field in fields:
        try:
            name = modalities.get(field).name
        except ValueError:
            continue
        if name in columns:
            raise ValueError(f"metadata has two columns for {name} ({columns[name]!r} and {field!r}): keep one")
        columns[name] = field
    return columns


def read_metadata(path: str | Path) -> list[Row]:
    """Every row of a metadata CSV."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metadata file {path} not found: pass the CSV with --metadata")
    with open(path, newline="", encoding="utf-8") as f:
        table = csv.DictReader(f)
        fields = list(table.fieldnames or [])
        missing = [c for c in REQUIRED if c not in fields]
        if missing:
            raise ValueError(
                f"{path} has no column {', '.join(missing)} (columns: {fields}): the metadata needs `video` and "
                "`prompt`, plus one column per modality (depth, raft, segmentation, skeleton, densepose)"
            )
        columns = _modality_columns(fields)
        rows = []
        for index, entry in enumerate(table):
            paths = {name: (entry[column] or "").strip() for name, column in columns.items()}
            rows.append(
                Row(
                    index=index,
                    video=(entry["video"] or "").strip(),
                    prompt=entry["prompt"] or "",
                    modalities={name: p for name, p in paths.items() if p},
                    source=(entry.get("source") or "").strip() or None,
                )
            )
    return rows
