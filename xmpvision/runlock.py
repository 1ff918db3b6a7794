"""One run per state database: the nightly timer and a manual run must not interleave."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xmpvision.errors import XmpvisionError


class RunLocked(XmpvisionError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"another xmpvision run is using {path} (lock {path}.lock held); "
                         "wait for it to finish or pass --state for a separate database")
        self.path = path


@contextmanager
def run_lock(state_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock beside the state database for the whole run.

    flock is released by the kernel when the process dies, so a kill -9 never leaves a stale
    lock behind (unlike a PID file).
    """
    lock_path = Path(f"{state_path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(state_path) from None
        yield
    finally:
        os.close(fd)
