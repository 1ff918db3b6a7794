"""The newly-indexed worker's filesystem watch: photos created, changed or moved in under the
watched folders wake the worker once the folders were quiet for `Debounce`.

watchdog uses inotify on Linux and falls back to polling where inotify is not available (or its
watch limit is reached). A watch only sees changes made through this kernel: the worker's
periodic pass still finds what was changed on an SMB/NFS share by another machine.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from xmpvision.discover import photo_kind

log = logging.getLogger(__name__)


def _is_photo(path: str | bytes) -> bool:
    name = os.path.basename(os.fsdecode(path))
    return not name.startswith(".") and photo_kind(name) is not None


class _Handler(FileSystemEventHandler):
    def __init__(self, seen: Callable[[str], None]) -> None:
        self._seen = seen

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path and _is_photo(path):
                self._seen(os.fsdecode(path))


class PhotoWatch:
    """Calls `wake` (from its own thread) once `debounce` seconds passed without a new photo
    event after one; `pending` holds the photos seen since the last `taken()`."""

    def __init__(self, roots: Sequence[Path], debounce: float, wake: Callable[[], None]) -> None:
        self.roots = list(roots)
        self.debounce = debounce
        self._wake = wake
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._last_event = 0.0
        self._woken = True
        self._stop = threading.Event()
        self._event = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._observer = self._observe(Observer)
        if self._observer is None:
            log.warning("inotify watch not available; watching by polling")
            self._observer = self._observe(PollingObserver)
        self._thread = threading.Thread(target=self._debounce, name="xmpvision-watch",
                                        daemon=True)
        self._thread.start()

    def _observe(self, kind: Callable[[], BaseObserver]) -> BaseObserver | None:
        observer = kind()
        handler = _Handler(self._seen)
        try:
            for root in self.roots:
                if root.is_dir():
                    observer.schedule(handler, os.fspath(root), recursive=True)
            observer.start()
        except OSError as exc:
            log.debug("watch with %s: %s", type(observer).__name__, exc)
            return None
        return observer

    def stop(self) -> None:
        self._stop.set()
        self._event.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _seen(self, path: str) -> None:
        with self._lock:
            self._pending.add(path)
            self._last_event = time.monotonic()
            self._woken = False
        self._event.set()

    def _debounce(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                quiet = time.monotonic() - self._last_event
                due = not self._woken and quiet >= self.debounce
                wait = None if self._woken else max(0.0, self.debounce - quiet)
                if due:
                    self._woken = True
            if due:
                self._wake()
                continue
            self._event.wait(wait)
            self._event.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def taken(self) -> None:
        """A pass begins: what was seen so far is its work."""
        with self._lock:
            self._pending.clear()
