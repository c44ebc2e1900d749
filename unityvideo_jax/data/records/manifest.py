"""`manifest.json`: what a folder of record shards holds, and which metadata rows are done.

The manifest is the truth about a folder: a shard counts only once it is listed here, and the
file is replaced atomically, so a reader or a resumed job never sees half of an update.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

NAME = "manifest.json"
FORMAT = "unityvideo-records/1"


@dataclasses.dataclass
class Shard:
    file: str  # relative to the folder
    source: str
    records: int
    rows: list[int] = dataclasses.field(default_factory=list)  # metadata rows it holds (preprocess)


@dataclasses.dataclass
class Manifest:
    latent: str  # config.data.latent the videos were encoded with
    text_encoder: str
    video_shape: list[int] | None = None  # of one stored video, set by the first record
    video_dtype: str | None = None
    text_dim: int | None = None
    shards: list[Shard] = dataclasses.field(default_factory=list)
    rejects: list[dict] = dataclasses.field(default_factory=list)  # {"row", "video", "reason"}
    format: str = FORMAT

    def done_rows(self) -> set[int]:
        """Rows that need no more work: written to a listed shard or rejected."""
        done = {row for shard in self.shards for row in shard.rows}
        return done | {int(r["row"]) for r in self.rejects}

    def sources(self) -> list[str]:
        return sorted({s.source for s in self.shards})

    def shards_of(self, source: str) -> list[Shard]:
        return [s for s in self.shards if s.source == source]


def exists(directory: str | Path) -> bool:
    return (Path(directory) / NAME).is_file()


def load(directory: str | Path) -> Manifest:
    path = Path(directory) / NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: point config.data.path at a `unityvideo preprocess` output folder")
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); restore it or preprocess the folder again") from err
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path} has format {raw.get('format')!r}, expected {FORMAT!r}: preprocess the data again")
    shards = [Shard(**s) for s in raw.pop("shards", [])]
    return Manifest(shards=shards, **raw)


def save(directory: str | Path, manifest: Manifest) -> None:
    """Write the manifest atomically (temp file, fsync, rename)."""
    path = Path(directory) / NAME
    temp = path.with_name(f".{NAME}.tmp")
    with open(temp, "w") as f:
        json.dump(dataclasses.asdict(manifest), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
