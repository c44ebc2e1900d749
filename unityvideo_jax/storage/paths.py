"""One path type for local folders and Google Cloud Storage.

A local path is made absolute (a run's folders must not depend on where the command started); a
`gs://bucket/key` URL goes to etils.epath, which Orbax and TFDS use too, backed by gcsfs. Anything
else that looks like a URL (`gs:/bucket`, `gcs://...`, `s3://...`) is a user's mistake: without this
check `os.makedirs` would quietly create a local folder named `gs:`.
"""

from __future__ import annotations

import os
import re

from etils import epath

SCHEMES = ("gs",)
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<slashes>/*)(?P<rest>.*)$")


class BadPath(ValueError):
    """A path that cannot mean what the user wanted (a malformed or unsupported URL)."""


def is_url(path) -> bool:
    """Whether `path` names an object store (gs://...), not a local file."""
    return str(path).startswith(tuple(f"{s}://" for s in SCHEMES))


def check(path, what: str = "path") -> str:
    """`path` as a string, or BadPath naming `what` and the fix."""
    text = os.fspath(path) if not isinstance(path, epath.Path) else str(path)
    match = _URL.match(text)
    if match is None or len(match["scheme"]) == 1:  # no scheme, or a Windows drive letter
        return text
    scheme, slashes, rest = match["scheme"].lower(), match["slashes"], match["rest"]
    if scheme in SCHEMES and slashes == "//":
        bucket = rest.split("/", 1)[0]
        if not bucket:
            raise BadPath(f"{what} {text!r} names no bucket: write gs://BUCKET/path")
        return text
    if scheme in ("gs", "gcs"):
        fixed = "gs://" + rest.lstrip("/")
        raise BadPath(f"{what} {text!r} looks like a Cloud Storage URL but is not one (a local folder named "
                      f"'{match['scheme']}:' would be created): write {fixed!r}")
    if slashes:
        raise BadPath(f"{what} {text!r}: {scheme}:// storage is not supported; use a local path or gs://BUCKET/path")
    return text  # e.g. "run:1" is a legal local name


def as_path(path, what: str = "path") -> epath.Path:
    """An epath.Path: a gs:// URL as it is, a local path made absolute."""
    text = check(path, what)
    return epath.Path(text) if is_url(text) else epath.Path(os.path.abspath(os.path.expanduser(text)))


def join(base, *parts: str) -> str:
    """`base`/`parts` as a string, keeping a URL a URL (os.path.join would too, os.path.abspath would not)."""
    return str(as_path(base).joinpath(*parts))


def bucket_and_key(url) -> tuple[str, str]:
    """('bucket', 'key/inside') of gs://bucket/key/inside."""
    rest = str(url).split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key.strip("/")
