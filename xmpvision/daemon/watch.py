"""The newly-indexed worker's filesystem watch: photos created, changed or moved in under the
watched folders wake the worker once the folders were quiet for `Debounce`.

watchdog uses inotify on Linux and falls back to polling where inotify is not available (or its
watch limit is reached). A watch only sees changes made through this kernel: the worker's
periodic pass still finds what was changed on an SMB/NFS share by another machine.

The roots are looked at every few seconds: one that is missing (a share not mounted yet) is
watched once it appears, one deleted and created again is watched again (an inotify watch
follows the deleted folder, not the path), and either wakes the worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from xmpvision.discover import photo_kind

log = logging.getLogger(__name__)

# Seconds between two looks at whether each root is (still) the folder being watched.
ROOT_CHECK = 5.0

Identity = tuple[int, int]  # (st_dev, st_ino) of a watched root


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
        self._handler = _Handler(self._seen)
        self._watched: dict[Path, tuple[Identity, ObservedWatch]] = {}
        self._thread: threading.Thread | None = None
        self._next_check = 0.0

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
        self._watched = {}
        try:
            for root in self.roots:
                identity = _identity(root)
                if identity is not None:
                    self._watched[root] = (identity, observer.schedule(
                        self._handler, os.fspath(root), recursive=True))
            observer.start()
        except OSError as exc:
            log.debug("watch with %s: %s", type(observer).__name__, exc)
            return None
        self._next_check = time.monotonic() + ROOT_CHECK
        return observer

    def _check_roots(self) -> None:
        """Watch the roots that appeared or were created again, and wake the worker for
        their photos."""
        observer = self._observer
        if observer is None:
            return
        for root in self.roots:
            identity = _identity(root)
            old = self._watched.get(root)
            if old is not None and old[0] == identity:
                continue
            if old is not None:
                self._watched.pop(root)
                with contextlib.suppress(KeyError, OSError):
                    observer.unschedule(old[1])
            if identity is None:
                log.warning("watch: %s is gone; watched again once it is back", root)
                continue
            try:
                self._watched[root] = (identity, observer.schedule(
                    self._handler, os.fspath(root), recursive=True))
            except OSError as exc:
                log.warning("watch: cannot watch %s: %s", root, exc)
                continue
            log.info("watch: %s %s; watching it", root,
                     "created again" if old is not None else "is there")
            self._seen(os.fspath(root))  # its photos are work for the worker

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
            if time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + ROOT_CHECK
                try:
                    self._check_roots()
                except Exception:  # the watch is a convenience: the periodic pass remains
                    log.exception("watch: looking at the roots")
            with self._lock:
                quiet = time.monotonic() - self._last_event
                due = not self._woken and quiet >= self.debounce
                wait = None if self._woken else max(0.0, self.debounce - quiet)
                if due:
                    self._woken = True
            if due:
                self._wake()
                continue
            until_check = max(0.0, self._next_check - time.monotonic())
            self._event.wait(until_check if wait is None else min(wait, until_check))
            self._event.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def taken(self) -> None:
        """A pass begins: what was seen so far is its work."""
        with self._lock:
            self._pending.clear()


def _identity(root: Path) -> Identity | None:
    """The folder at `root` (None: none there)."""
    try:
        st = root.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None
