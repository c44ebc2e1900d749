"""Remote files copied once to a local cache, verified, and reused: data shards and weight files.

ArrayRecord and safetensors are read by random access from local files (a C++ reader, a memory
map), so a gs:// input is staged: each object is downloaded (concurrently) into the cache under a
temporary name, checked against the size and MD5 that Cloud Storage records for it, and renamed
into place with a small stamp beside it. A staged file whose stamp still matches the object (same
generation, size and MD5) is not downloaded again, so an interrupted staging resumes where it was.

The cache is $UNITYVIDEO_CACHE, else ~/.cache/unityvideo; a pod's host stages into its own disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from unityvideo_jax.storage.bucket import StorageAccessError, bucket_errors, filesystem, object_name
from unityvideo_jax.storage.paths import bucket_and_key, check as check_path, is_url

STAMP_SUFFIX = ".staged.json"
_CHUNK = 8 << 20


def cache_root() -> Path:
    return Path(os.environ.get("UNITYVIDEO_CACHE") or Path.home() / ".cache" / "unityvideo").expanduser()


def cache_path(url: str, area: str = "gs") -> Path:
    """Where gs://bucket/key is staged: CACHE/gs/bucket/key (`area` "writing": the local side of a
    folder being written to the bucket, kept apart from staged copies)."""
    bucket, key = bucket_and_key(url)
    return cache_root() / area / bucket / key


def _stamp_of(local: Path) -> Path:
    return local.with_name(f".{local.name}{STAMP_SUFFIX}")


def _identity(info: dict) -> dict:
    return {"size": int(info["size"]), "md5": info.get("md5Hash"), "generation": str(info.get("generation", ""))}


def _md5_base64(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _is_current(local: Path, identity: dict) -> bool:
    stamp = _stamp_of(local)
    if not (local.is_file() and stamp.is_file()):
        return False
    try:
        return json.loads(stamp.read_text()) == identity and local.stat().st_size == identity["size"]
    except (OSError, json.JSONDecodeError):
        return False


def listing(url: str, *, what: str = "path") -> list[str]:
    """Names of the objects directly under gs:// `url` (a folder), without subfolders."""
    fs, prefix = filesystem(), object_name(url).rstrip("/") + "/"
    with bucket_errors(url, "list"):
        entries = fs.ls(prefix, detail=True) if fs.exists(object_name(url)) else []
    return sorted(e["name"][len(prefix):] for e in entries if e.get("type") == "file" and e["name"].startswith(prefix))


def stage(url: str, names: list[str] | None = None, *, what: str = "path") -> Path:
    """The local copy of gs:// `url`: a file, or with `names` (relative paths; None: every object under
    it) a folder holding those files. A local `url` is returned as it is, untouched."""
    url = check_path(url, what)
    if not is_url(url):
        return Path(url)
    fs = filesystem()
    if names is None:
        with bucket_errors(url, "list"):
            found = fs.find(object_name(url))
        if not found:
            raise StorageAccessError(f"{what} {url} holds no files: upload the data there or fix the path")
        prefix = object_name(url).rstrip("/") + "/"
        names = [n[len(prefix):] for n in found if n.startswith(prefix)] or None
    urls = [url] if names is None else [f"{url.rstrip('/')}/{n}" for n in names]
    with bucket_errors(url, "read"):
        infos = {u: fs.info(object_name(u)) for u in urls}
    wanted = {u: _identity(info) for u, info in infos.items()}
    todo = [u for u in urls if not _is_current(cache_path(u), wanted[u])]
    parts = {u: cache_path(u).with_name(f".{cache_path(u).name}.{os.getpid()}.part") for u in todo}
    for part in parts.values():
        part.parent.mkdir(parents=True, exist_ok=True)
    try:
        if todo:
            with bucket_errors(url, "download"):
                fs.get([object_name(u) for u in todo], [str(parts[u]) for u in todo])
        for u in todo:
            _verify(u, parts[u], wanted[u])
            os.replace(parts[u], cache_path(u))
            _stamp_of(cache_path(u)).write_text(json.dumps(wanted[u]))
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
    return cache_path(url)


def _verify(url: str, part: Path, identity: dict) -> None:
    size = part.stat().st_size
    if size != identity["size"]:
        raise StorageAccessError(f"downloading {url} gave {size} bytes, the bucket says {identity['size']}: run again")
    if identity["md5"] and _md5_base64(part) != identity["md5"]:
        raise StorageAccessError(f"downloading {url} gave bytes whose MD5 differs from the bucket's: run again")
