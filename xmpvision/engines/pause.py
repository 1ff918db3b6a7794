"""The gate a service's requests wait at while the health monitor restarts it. Apart from the
HTTP stack: the monitor holds a gate per service before any engine (and httpx) is loaded."""

from __future__ import annotations

import threading


class PauseGate:
    """Requests to one service wait here while it restarts (the health monitor closes it).

    `generation` counts the restarts begun; an attempt that failed while the generation moved
    on failed because of the restart, so it is tried again without spending a retry."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self.generation = 0

    def close(self) -> None:
        with self._lock:
            self.generation += 1
            self._open.clear()

    def open(self) -> None:
        self._open.set()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def wait(self) -> int:
        """Block while closed; the generation the next attempt runs in."""
        self._open.wait()
        return self.generation

    def disturbed(self, generation: int) -> bool:
        """A restart began (or is running) since an attempt of `generation` started."""
        return self.generation != generation or not self._open.is_set()
