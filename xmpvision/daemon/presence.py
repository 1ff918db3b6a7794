"""One daemon per state database, and whether it runs: an exclusive flock on
`<state>.daemon`, held for the daemon's life (the kernel drops it when the process dies, so a
crash leaves nothing stale), with the daemon's pid in the file for `status`."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from xmpvision.errors import StateError, UsageError

log = logging.getLogger(__name__)


def presence_path(state: Path) -> Path:
    return Path(f"{state}.daemon")


class DaemonLock:
    """Held from construction until close(); UsageError (exit 2) when another daemon holds
    it."""

    def __init__(self, state: Path) -> None:
        path = presence_path(state)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(state, f"cannot create {path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if not isinstance(exc, BlockingIOError):
                os.close(self._fd)
                raise StateError(state, f"cannot lock {path}: {exc.strerror or exc}") from exc
            pid = _read_pid(self._fd)
            os.close(self._fd)
            raise UsageError(
                f"another xmpvision daemon{f' (pid {pid})' if pid else ''} uses the state "
                f"database {state}: stop it first, or give this one its own --state") from None
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # the lock is held all the same: `status` shows no pid
            log.debug("%s: %s", path, exc)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1


def running_daemon(state: Path) -> int | None:
    """The pid of the daemon using `state`, None when none runs."""
    try:
        fd = os.open(presence_path(state), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1  # held by a daemon that has not written its pid yet
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None
