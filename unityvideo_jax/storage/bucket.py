"""The bucket behind a gs:// URL: one clear error for what a user can get wrong.

gcsfs (through fsspec, the backend etils.epath uses for gs://) answers a missing bucket with a bare
FileNotFoundError naming an HTTP endpoint, a missing permission with an OSError "Forbidden", and
missing credentials with google-auth's error. `bucket_errors` turns each into `StorageAccessError`
naming the URL and the fix; `check` probes a URL before a run spends its time (a write check writes
and deletes one small object, as a pod run must be able to).
"""

from __future__ import annotations

import contextlib
import os
import uuid

from unityvideo_jax.storage.paths import bucket_and_key, check as check_path, is_url


class StorageAccessError(ValueError):
    """A bucket that does not exist, cannot be reached or may not be read or written."""


def filesystem():
    """The process's gcsfs filesystem (fsspec caches one instance; STORAGE_EMULATOR_HOST is honoured)."""
    import fsspec

    return fsspec.filesystem("gs")


def object_name(url: str) -> str:
    """bucket/key of gs://bucket/key: the name gcsfs takes."""
    bucket, key = bucket_and_key(url)
    return f"{bucket}/{key}" if key else bucket


def _kind(err: BaseException) -> str | None:
    """'forbidden', 'credentials', 'missing' or 'unreachable' for a storage failure, else None."""
    name, text = type(err).__name__, str(err)
    if isinstance(err, PermissionError) or "Forbidden" in text or "403" in text.split(":")[0]:
        return "forbidden"
    if "DefaultCredentialsError" in name or "RefreshError" in name or "credentials were not found" in text:
        return "credentials"
    if isinstance(err, FileNotFoundError):
        return "missing"
    if isinstance(err, (ConnectionError, TimeoutError)) or "ClientConnectorError" in name or "Cannot connect" in text:
        return "unreachable"
    return None


def _message(kind: str, url: str, action: str) -> str:
    bucket = bucket_and_key(url)[0]
    if kind == "forbidden":
        return (f"no permission to {action} {url}: grant this machine's account access to gs://{bucket} (e.g. "
                f"`gcloud storage buckets add-iam-policy-binding gs://{bucket} --member=serviceAccount:ACCOUNT "
                "--role=roles/storage.objectAdmin`) or use another bucket")
    if kind == "credentials":
        return (f"no Google Cloud credentials to {action} {url}: run `gcloud auth application-default login`, "
                "or run on a VM whose service account has access")
    if kind == "unreachable":
        host = os.environ.get("STORAGE_EMULATOR_HOST") or "storage.googleapis.com"
        return f"cannot reach Cloud Storage ({host}) to {action} {url}: check the network, then run the same command again"
    return (f"cannot {action} {url}: the bucket gs://{bucket} does not exist or the object is missing; create the "
            f"bucket (`gcloud storage buckets create gs://{bucket}`) or fix the path")


@contextlib.contextmanager
def bucket_errors(url, action: str):
    """Re-raise a storage failure in the block on a gs:// `url` as StorageAccessError (local: as is)."""
    try:
        yield
    except StorageAccessError:
        raise
    except Exception as err:  # noqa: BLE001  only storage failures are translated; the rest re-raise
        kind = _kind(err) if is_url(url) else None
        if kind is None:
            raise
        raise StorageAccessError(_message(kind, str(url), action)) from None


def check(url, *, write: bool, what: str = "path") -> None:
    """For a gs:// `url`: its bucket exists, and `url` can be written (`write`: one small object is written
    and deleted) or exists and can be read. A local `url`: nothing to check."""
    url = check_path(url, what)
    if not is_url(url):
        return
    fs, bucket = filesystem(), bucket_and_key(url)[0]
    try:
        found = fs.exists(bucket)
    except Exception as err:  # noqa: BLE001
        kind = _kind(err)
        if kind is None:
            raise
        if kind != "forbidden":  # an account may use objects without seeing the bucket's metadata
            raise StorageAccessError(_message(kind, url, "use")) from None
        found = True
    if not found:
        raise StorageAccessError(_message("missing", url, "use"))
    if write:
        probe = f"{object_name(url)}/.unityvideo-write-check-{uuid.uuid4().hex[:12]}"
        with bucket_errors(url, "write to"):
            fs.pipe_file(probe, b"")
            fs.rm_file(probe)
        return
    with bucket_errors(url, "read"):
        exists = fs.exists(object_name(url))
    if not exists:
        raise StorageAccessError(f"{what} {url} does not exist: upload it there or fix the path")
