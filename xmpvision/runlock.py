"""One run per state database: the nightly timer and a manual run must not interleave."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xmpvision.errors import RunLocked, StateError


@contextmanager
def run_lock(state_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock beside the state database for the whole run.

    flock is released by the kernel when the process dies, so a kill -9 never leaves a stale
    lock behind (unlike a PID file).
    """
    lock_path = Path(f"{state_path}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError(state_path, f"cannot create the lock {lock_path}: "
                         f"{exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(state_path) from None
        yield
    finally:
        os.close(fd)
