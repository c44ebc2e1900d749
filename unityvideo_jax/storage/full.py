"""Running out of storage while training: one clear error instead of the writer's traceback.

A full disk (ENOSPC), a quota (EDQUOT) or a file size limit (EFBIG) during a checkpoint save or a log
write stops the run. Orbax writes each step into a temporary folder and renames it only when complete,
so the last whole checkpoint stays intact and a rerun resumes from it; `storage_errors` turns the
failure, whichever layer reports it (an OSError, or TensorStore's error text from Orbax's threads),
into `StorageFull` naming the folder and what to do.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Callable

FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
        errno.EFBIG: "a file grew past the size limit"}
_TEXTS = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
          "File too large": errno.EFBIG}


class StorageFull(RuntimeError):
    """The run's storage filled up; the newest complete checkpoint is intact."""


def storage_errno(err: BaseException) -> int | None:
    """The storage errno behind `err` or anything in its cause/context chain, else None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in FULL:
            return err.errno
        for text, code in _TEXTS.items():
            if text in str(err):
                return code
        err = err.__cause__ or err.__context__
    return None


@contextlib.contextmanager
def storage_errors(workdir: str, last_good: Callable[[], int | None]):
    """Re-raise a storage failure inside the block as StorageFull; `last_good()` names the intact step."""
    try:
        yield
    except Exception as err:  # noqa: BLE001  only storage failures are translated; the rest re-raise as they are
        code = storage_errno(err)
        if code is None:
            raise
        step = last_good()
        kept = f"the checkpoint of step {step} is intact" if step is not None else "no checkpoint was completed"
        raise StorageFull(
            f"writing to {workdir} failed: {FULL[code]} ({type(err).__name__}). The run stopped; {kept}. "
            "Free space (or raise the limit), then run the same command to resume."
        ) from None
