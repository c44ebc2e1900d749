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
import logging
import sys
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


class _DropStorageFailureLogs(logging.Filter):
    """Drops ERROR records of a storage failure. Orbax's save threads log each failed write with its
    traceback (absl) and leave futures nobody awaits, which asyncio reports at exit ("exception was never
    retrieved"); the failure reaches the run's thread too, and StorageFull says it once."""

    failed = False  # set once a storage failure was raised: the writers' later errors are its consequences

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        if self.failed:
            return False
        err = record.exc_info[1] if record.exc_info else None
        failed = (err is not None and storage_errno(err) is not None) or any(t in record.getMessage() for t in _TEXTS)
        return not failed


_FILTER = _DropStorageFailureLogs()
_NOISY = ("absl", "asyncio", "concurrent.futures")  # where Orbax's threads and their leftover futures report


def _is_closed_loop(value) -> bool:
    return isinstance(value, RuntimeError) and str(value) == "Event loop is closed"


def _quiet_abandoned_writes() -> None:
    """After a failed save, TensorStore still completes the abandoned writes' futures on event loops
    Orbax has closed; each callback's "Event loop is closed" is reported as unraisable (a bare
    traceback). Drop those; every other unraisable error is reported as before."""
    previous = sys.unraisablehook
    if getattr(previous, "quiets_abandoned_writes", False):
        return

    def hook(unraisable):
        if not (_FILTER.failed or _is_closed_loop(unraisable.exc_value)):
            previous(unraisable)

    hook.quiets_abandoned_writes = True
    sys.unraisablehook = hook


@contextlib.contextmanager
def storage_errors(workdir: str, last_good: Callable[[], int | None]):
    """Re-raise a storage failure inside the block as StorageFull; `last_good()` names the intact step.
    From the first such block on, the background writers' logs of a storage failure are dropped (they
    may come between blocks, or at exit); the failure itself always reaches a block."""
    for name in _NOISY:
        logging.getLogger(name).addFilter(_FILTER)  # once: a logger keeps one copy of a filter
    _quiet_abandoned_writes()
    try:
        yield
    except Exception as err:  # noqa: BLE001  only storage failures are translated; the rest re-raise as they are
        code = storage_errno(err)
        if code is None:
            raise
        _FILTER.failed = True  # what the save threads report from here on (e.g. at shutdown) is this failure
        step = last_good()
        kept = f"the checkpoint of step {step} is intact" if step is not None else "no checkpoint was completed"
        raise StorageFull(
            f"writing to {workdir} failed: {FULL[code]} ({type(err).__name__}). The run stopped; {kept}. "
            "Free space (or raise the limit), then run the same command to resume."
        ) from None
