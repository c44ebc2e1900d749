"""The permissions a plain write would give, for files and folders made through `tempfile`.

`tempfile.mkstemp` creates files readable by their owner only (0600) and `mkdtemp` folders of 0700,
whatever the user's umask; a temporary renamed into place keeps them, so another user or a web server
could not read what the project wrote. Every atomic write calls `match_umask` on its temporary
before the rename, which gives it what `open(path, "w")` or `os.mkdir` would have: 0666 or 0777
less the umask.
"""

from __future__ import annotations

import os
import threading

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _LOCK:  # os.umask can only be read by setting it: set it back at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def match_umask(path, *, directory: bool = False) -> None:
    """chmod `path` (a file, or with `directory` a folder) to what a plain create would have made."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())
