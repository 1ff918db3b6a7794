"""The state database: which photos were seen, and which model types are done for each.

SQLite (stdlib `sqlite3`), WAL mode, `synchronous=NORMAL`: each `mark_done`/`mark_failed`
commits, so a `kill -9` loses at most the file in flight; classification writes (new, changed,
moved files) are batched into one transaction per `batch_size` writes.

Schema (a folder path or file name is TEXT, or, if it is not valid UTF-8, BLOB of its
`os.fsencode` bytes, so that every name round-trips and still opens):
- `dirs(id, path UNIQUE)`: one row per folder, so a file row holds only its name;
- `files(id, dir_id, name, size, mtime_ns, dev, ino, fingerprint, kind, first_seen, done)`,
  `UNIQUE(dir_id, name)`: keyed by path. `done` ("|labels|caption|") is derived from
  `results` in the same transaction that changes them, so a rescan need not join;
- `results(file_id, type, status, model, source, finished_at, error, attempts)`: per model type
  ("labels", "caption", ...), status "done" or "failed".

Cost model: discovery yields the photos of one folder together, so `plan`, `classify` and
`needs` load one folder's records with one query when the folder changes and answer from that
dict; an unchanged library is rescanned with one SELECT per folder, no writes, no file reads.
Asked about a photo of another folder than the current one, they fall back to one SELECT.

Threads: a `StateDB` belongs to the thread that opened it (sqlite3's check_same_thread; another
thread gets sqlite3.ProgrammingError). Intended use: one owner thread (the pipeline's writer)
pulls photos from `discover`, calls `plan(photo, types)`, hands the work to the workers and
calls `mark_done`/`mark_failed` with their results. Discovery itself never touches the state,
so it may run ahead in a producer thread. A thread or process that needs the state too opens
its own `StateDB` on the same file: WAL lets it read while the owner writes, and writers wait
up to 30 s for each other (then sqlite3.OperationalError "database is locked").
"""

from __future__ import annotations

import enum
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from xmpvision.discover import Photo
from xmpvision.errors import StateError
from xmpvision.state.codec import fingerprint, from_db, to_db, to_i64
from xmpvision.state.schema import (
    FIND_FILE,
    LOAD_FOLDER,
    SCHEMA,
    SCHEMA_VERSION,
    SEP,
    UPDATE_DONE,
)

logger = logging.getLogger(__name__)

class FileStatus(enum.Enum):
    NEW = "new"  # path not recorded (and not a moved file)
    CHANGED = "changed"  # path recorded, size or mtime differ: every type must be redone
    # A recorded file that vanished from its old path: its record (and results) moved with it.
    # Its sidecar may have stayed behind at the old path: the pipeline should look there.
    MOVED = "moved"
    UNCHANGED = "unchanged"  # same path, size and mtime_ns


class Plan(NamedTuple):
    """What a discovered photo needs: its status and the model types that must run."""

    status: FileStatus
    todo: tuple[str, ...]  # a subset of the types asked for, in their order


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """The recorded outcome of one model type for one file."""

    type: str
    status: str  # "done" | "failed"
    model: str | None
    source: str | None
    finished_at: float  # seconds since the epoch
    error: str | None
    attempts: int


def default_state_path() -> Path:
    """`$XDG_STATE_HOME/xmpvision/state.sqlite3`; XDG_STATE_HOME defaults to ~/.local/state."""
    base = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "xmpvision" / "state.sqlite3"


# A folder's cached rows: name -> (name, size, mtime_ns, "|done|types|" or None); the row
# exactly as sqlite3 returns it, to build the dict without per-row Python work.
_Row = tuple[str | bytes, int, int, str | None]


class StateDB:
    """Per-file state of a photo library. Create with `StateDB.open(path)`; see module doc."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, batch_size: int = 1000) -> None:
        self._conn = conn
        self.path = path
        self.batch_size = batch_size
        self.max_batch_seconds = 2.0  # don't hold the write lock long while classifying
        self._in_txn = False
        self._pending = 0
        self._txn_started = 0.0
        self._folder: str | None = None  # folder whose rows are cached
        self._folder_id: int | None = None
        self._rows: dict[str, _Row] = {}
        self._type_keys: dict[str, str] = {}
        self._moved_from: dict[str, str] = {}
        self._plan_types: tuple[str, ...] = ()
        self._plans: dict[str | None, Plan] = {}  # done -> plan of an unchanged photo

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str | None = None, *, batch_size: int = 1000) -> StateDB:
        """Open (creating if needed) the database at `path` (default: `default_state_path()`).

        ":memory:" gives a throwaway database. Raises StateError.
        """
        target = str(path) if path is not None else str(default_state_path())
        try:
            if target != ":memory:":
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(target, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(target, str(exc)) from exc
        try:
            cls._prepare(conn, target)
        except sqlite3.Error as exc:
            conn.close()
            raise StateError(target, str(exc)) from exc
        except StateError:
            conn.close()
            raise
        return cls(conn, target, batch_size=batch_size)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, target: str) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if target != ":memory:" and str(mode).lower() != "wal":
            logger.warning("state database %s: WAL not available, using %s", target, mode)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                target, f"schema version {version} is newer than this xmpvision ({SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            conn.executescript(
                f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )

    def close(self) -> None:
        """Commit pending classification writes and close. Safe to call twice."""
        try:
            self.flush()
        except sqlite3.Error as exc:
            # Only classification facts are lost; they are found again on the next scan.
            logger.warning("state database %s: batch not committed: %s", self.path, exc)
            self._rollback()
        finally:
            self._conn.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
        """Pass-through to sqlite3's statement tracer (tests and debugging)."""
        self._conn.set_trace_callback(callback)

    # -- transactions ----------------------------------------------------------------------

    def flush(self) -> None:
        """Commit the open batch of classification writes, if any."""
        if self._in_txn:
            self._conn.execute("COMMIT")
            self._in_txn = False
            self._pending = 0

    def _begin(self) -> None:
        if not self._in_txn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_txn = True
            self._txn_started = time.monotonic()

    def _wrote(self) -> None:
        self._pending += 1
        if (
            self._pending >= self.batch_size
            or time.monotonic() - self._txn_started > self.max_batch_seconds
        ):
            self.flush()

    # -- folder cache ----------------------------------------------------------------------

    def _load_folder(self, folder: str) -> None:
        self._folder = folder
        self._folder_id = None  # looked up when the first write in this folder needs it
        rows: dict[Any, _Row] = {
            row[0]: row for row in self._conn.execute(LOAD_FOLDER, (to_db(folder),))
        }
        if bytes in set(map(type, rows)):  # rare: some names are not valid UTF-8
            rows = {from_db(name): row for name, row in rows.items()}
        self._rows = rows

    def _folder_id_for_write(self) -> int:
        if self._folder_id is None:
            assert self._folder is not None
            key = to_db(self._folder)
            self._conn.execute("INSERT OR IGNORE INTO dirs(path) VALUES (?)", (key,))
            found = self._conn.execute("SELECT id FROM dirs WHERE path = ?", (key,)).fetchone()
            self._folder_id = int(found[0])
        return self._folder_id

    def _set_row(self, photo: Photo, done: str | None) -> None:
        self._rows[photo.name] = (photo.name, photo.size, photo.mtime_ns, done)

    def _type_key(self, type_: str) -> str:
        key = self._type_keys.get(type_)
        if key is None:
            if not type_ or SEP in type_:
                raise ValueError(f"invalid model type {type_!r}")
            key = self._type_keys[type_] = f"{SEP}{type_}{SEP}"
        return key

    # -- classification --------------------------------------------------------------------

    def classify(self, photo: Photo) -> FileStatus:
        """Compare a discovered photo with its record and update the record.

        UNCHANGED touches nothing (no file read, no write). NEW and CHANGED read the file's
        fingerprint (128 KiB); CHANGED forgets every per-type result; MOVED moves the record
        of a vanished file with the same size and fingerprint to this path, keeping its
        results (`moved_from(photo)` tells the old path). Writes are batched: they are
        committed by the next `mark_*`, `flush`, `close`, or after `batch_size` writes.
        """
        if photo.parent != self._folder:
            self._load_folder(photo.parent)
        row = self._rows.get(photo.name)
        if row is not None and row[1] == photo.size and row[2] == photo.mtime_ns:
            return FileStatus.UNCHANGED
        return self._record(photo, known=row is not None)

    def plan(self, photo: Photo, types: tuple[str, ...], *, force: bool = False) -> Plan:
        """`classify(photo)` and the `types` it `needs`, in one call: the pipeline's per-file
        question. For an unchanged photo this is three dict lookups and no SQL.

        Pass the same `types` tuple object on every call: unchanged plans are shared per
        (types, done types), not rebuilt.
        """
        if photo.parent != self._folder:
            self._load_folder(photo.parent)
        row = self._rows.get(photo.name)
        if row is None or row[1] != photo.size or row[2] != photo.mtime_ns:
            status = self._record(photo, known=row is not None)
            done = self._rows[photo.name][3]
            return Plan(status, types if force else self._todo(done, types))
        if force:
            return Plan(FileStatus.UNCHANGED, types)
        if types is not self._plan_types:
            self._plan_types = types
            self._plans = {}
        done = row[3]
        found = self._plans.get(done)
        if found is None:
            found = self._plans[done] = Plan(FileStatus.UNCHANGED, self._todo(done, types))
        return found

    def _todo(self, done: str | None, types: tuple[str, ...]) -> tuple[str, ...]:
        if done is None:
            return types
        return tuple(t for t in types if self._type_key(t) not in done)

    def _record(self, photo: Photo, *, known: bool) -> FileStatus:
        fp: bytes | None
        try:
            fp = fingerprint(photo.path, photo.size)
        except OSError as exc:
            # Recorded without a fingerprint; reading it will fail again, with a clear error,
            # where the pipeline decodes it.
            logger.debug("cannot fingerprint %s: %s", photo.path, exc)
            fp = None
        self._begin()
        conn = self._conn
        stat_values = (photo.size, photo.mtime_ns, to_i64(photo.dev), to_i64(photo.ino), fp)
        if known:
            known_id = self._file_id(photo)
            conn.execute(
                "UPDATE files SET size=?, mtime_ns=?, dev=?, ino=?, fingerprint=?, done=NULL"
                " WHERE id=?",
                (*stat_values, known_id),
            )
            conn.execute("DELETE FROM results WHERE file_id = ?", (known_id,))
            self._set_row(photo, None)
            self._wrote()
            return FileStatus.CHANGED
        moved = self._find_moved(photo, fp) if fp is not None else None
        folder_id = self._folder_id_for_write()
        if moved is not None:
            file_id, old_path, done = moved
            conn.execute(
                "UPDATE files SET dir_id=?, name=?, size=?, mtime_ns=?, dev=?, ino=?,"
                " fingerprint=?, kind=? WHERE id=?",
                (folder_id, to_db(photo.name), *stat_values, photo.kind, file_id),
            )
            old_parent, old_name = os.path.split(old_path)
            if old_parent == self._folder:
                self._rows.pop(old_name, None)
            self._set_row(photo, done)
            self._moved_from[photo.path] = old_path
            logger.info("moved: %s -> %s", old_path, photo.path)
            self._wrote()
            return FileStatus.MOVED
        conn.execute(
            "INSERT INTO files(dir_id, name, size, mtime_ns, dev, ino, fingerprint, kind,"
            " first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (folder_id, to_db(photo.name), *stat_values, photo.kind, time.time()),
        )
        self._set_row(photo, None)
        self._wrote()
        return FileStatus.NEW

    def _find_moved(self, photo: Photo, fp: bytes) -> tuple[int, str, str | None] | None:
        candidates = self._conn.execute(
            "SELECT f.id, d.path, f.name, f.done FROM files f JOIN dirs d ON d.id = f.dir_id"
            " WHERE f.fingerprint = ? AND f.size = ?",
            (fp, photo.size),
        ).fetchall()
        for file_id, dir_path, name, done in candidates:
            old_path = os.path.join(from_db(dir_path), from_db(name))
            if old_path != photo.path and not os.path.lexists(old_path):
                return int(file_id), old_path, done
        return None  # none, or a copy: the original is still there

    def moved_from(self, photo: Photo) -> str | None:
        """The old path of a photo that `classify` found MOVED in this session."""
        return self._moved_from.get(photo.path)

    # -- per-type status -------------------------------------------------------------------

    def needs(self, photo: Photo, type_: str, *, force: bool = False) -> bool:
        """Whether model type `type_` must run for `photo`: never done, failed, invalidated by
        a change, or `force`. Call after `classify(photo)`; answered from the folder cache
        while `photo` is in the folder being classified, else with one SELECT."""
        if force:
            return True
        key = self._type_key(type_)
        if photo.parent == self._folder:
            row = self._rows.get(photo.name)
            if row is None:
                return True
            done = row[3]
            return done is None or key not in done
        record = self.result(photo, type_)
        return record is None or record.status != "done"

    def result(self, photo: Photo, type_: str) -> ResultRecord | None:
        """The recorded outcome of `type_` for `photo`'s path, if any (one SELECT)."""
        row = self._conn.execute(
            "SELECT r.type, r.status, r.model, r.source, r.finished_at, r.error, r.attempts"
            " FROM results r JOIN files f ON f.id = r.file_id JOIN dirs d ON d.id = f.dir_id"
            " WHERE d.path = ? AND f.name = ? AND r.type = ?",
            (to_db(photo.parent), to_db(photo.name), type_),
        ).fetchone()
        return None if row is None else ResultRecord(*row)

    def mark_done(self, photo: Photo, type_: str, *, model: str, source: str) -> None:
        """Record that `type_` finished for `photo` and commit (with any pending batch)."""
        self._mark(photo, type_, "done", model, source, None)

    def mark_failed(
        self, photo: Photo, type_: str, error: str, *, model: str | None = None
    ) -> None:
        """Record that every model of `type_` failed for `photo`; it is retried next run."""
        self._mark(photo, type_, "failed", model, None, error)

    def _mark(
        self,
        photo: Photo,
        type_: str,
        status: str,
        model: str | None,
        source: str | None,
        error: str | None,
    ) -> None:
        self._type_key(type_)  # validates the name
        file_id = self._file_id(photo)
        self._begin()
        try:
            self._conn.execute(
                "INSERT INTO results(file_id, type, status, model, source, finished_at, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(file_id, type) DO UPDATE SET status=excluded.status,"
                " model=excluded.model, source=excluded.source,"
                " finished_at=excluded.finished_at, error=excluded.error,"
                " attempts=CASE WHEN excluded.status = 'failed' AND status = 'failed'"
                " THEN attempts + 1 ELSE 1 END",
                (file_id, type_, status, model, source, time.time(), error),
            )
            self._conn.execute(UPDATE_DONE, (file_id,))
            # Not UPDATE ... RETURNING: that needs SQLite 3.35, older than some NAS systems ship.
            done = self._conn.execute("SELECT done FROM files WHERE id = ?", (file_id,)).fetchone()
            self.flush()  # durable per file: a kill -9 loses at most the file in flight
        except BaseException:
            self._rollback()
            raise
        if photo.parent == self._folder and photo.name in self._rows:
            self._set_row(photo, done[0])

    def forget(self, photo: Photo, types: Iterable[str]) -> None:
        """Drop the recorded results of `types` for `photo` (after `vision reset`), so the
        next run produces them again; commits."""
        wanted = list(types)
        for type_ in wanted:
            self._type_key(type_)
        file_id = self._file_id(photo)
        self._begin()
        try:
            self._conn.executemany(
                "DELETE FROM results WHERE file_id = ? AND type = ?",
                [(file_id, t) for t in wanted],
            )
            done = self._conn.execute(UPDATE_DONE + " RETURNING done", (file_id,)).fetchone()
            self.flush()
        except BaseException:
            self._rollback()
            raise
        if photo.parent == self._folder and photo.name in self._rows:
            self._set_row(photo, done[0])

    def _rollback(self) -> None:
        if self._in_txn:
            self._in_txn = False
            self._pending = 0
            self._conn.execute("ROLLBACK")
            self._folder = None  # the cache may hold rows that were rolled back
            self._rows = {}

    def _file_id(self, photo: Photo) -> int:
        """The record id of `photo`'s path (one SELECT: ids are not kept in the folder cache)."""
        key = (to_db(photo.parent), to_db(photo.name))
        found = self._conn.execute(FIND_FILE, key).fetchone()
        if found is None:
            self.classify(photo)  # marked without being classified first: record it now
            found = self._conn.execute(FIND_FILE, key).fetchone()
        return int(found[0])

    # -- housekeeping ----------------------------------------------------------------------

    def forget_missing(self, roots: Iterable[str | os.PathLike[str]]) -> int:
        """Delete the records of files under `roots` that no longer exist; returns how many.

        Run after a full scan (moves are recognised during the scan, by records that are still
        there). A root that is missing or unreadable is left alone, so an unmounted share does
        not wipe the state; so is any folder that cannot be listed for another reason than
        not existing.
        """
        self.flush()
        self._folder = None
        self._rows = {}
        removed = 0
        for root in roots:
            top = os.path.realpath(os.fsdecode(os.fspath(root)))
            if not os.path.isdir(top):
                logger.warning("forget_missing: %s is not a folder; nothing forgotten", top)
                continue
            below = top.rstrip(os.sep) + os.sep
            for dir_id, dir_path in self._conn.execute("SELECT id, path FROM dirs").fetchall():
                folder = from_db(dir_path)
                if folder == top or folder.startswith(below):
                    removed += self._forget_in_folder(int(dir_id), folder)
        self.flush()
        return removed

    def _forget_in_folder(self, dir_id: int, folder: str) -> int:
        try:
            present = set(os.listdir(folder))
        except FileNotFoundError:
            present = set()
        except OSError as exc:
            logger.warning("forget_missing: cannot list %s: %s", folder, exc.strerror)
            return 0
        gone = [
            (file_id,)
            for file_id, name in self._conn.execute(
                "SELECT id, name FROM files WHERE dir_id = ?", (dir_id,)
            )
            if from_db(name) not in present
        ]
        if not gone and present:
            return 0
        self._begin()
        self._conn.executemany("DELETE FROM files WHERE id = ?", gone)
        self._conn.execute(
            "DELETE FROM dirs WHERE id = ? AND NOT EXISTS"
            " (SELECT 1 FROM files WHERE dir_id = ?)",
            (dir_id, dir_id),
        )
        self._wrote()
        return len(gone)
