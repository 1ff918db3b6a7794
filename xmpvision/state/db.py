"""The state database: which photos were seen, and which model types are done for each.

SQLite (stdlib `sqlite3`), WAL mode, `synchronous=NORMAL`: each `mark_done`/`mark_failed`
commits, so a `kill -9` loses at most the file in flight; classification writes (new, changed,
moved files) are batched into one transaction per `batch_size` writes.

Schema (a folder path or file name is TEXT, or, if it is not valid UTF-8, BLOB of its
`os.fsencode` bytes, so that every name round-trips and still opens):
- `dirs(id, path UNIQUE)`: one row per folder, so a file row holds only its name;
- `files(id, dir_id, name, size, mtime_ns, dev, ino, fingerprint, kind, first_seen, done, bad)`,
  `UNIQUE(dir_id, name)`: keyed by path. `done` ("|labels|caption|") is derived from
  `results` in the same transaction that changes them, so a rescan need not join. `bad` is why
  the file itself could not be used (empty, truncated, not an image, ...), NULL if it can; it
  is cleared when the file changes, so an unchanged bad file is not decoded again every run;
- `results(file_id, type, status, model, source, finished_at, error, attempts, fallback)`: per
  model type ("labels", "caption", ...), status "done" or "failed"; `fallback` names the better
  models that were down when a fallback answered (the type is redone once they are back);
- `vocabulary(file_id, path)`: the owner's keywords of each photo;
- `parallel_found(service, found, most, found_at)`: what `Parallel: auto` found per service
  (parallel.py).

Cost model: discovery yields the photos of one folder together, so `plan`, `classify` and
`needs` load one folder's records with one query when the folder changes and answer from that
dict; an unchanged library is rescanned with one SELECT per folder, no writes, no file reads.
Asked about a photo of another folder than the current one, they fall back to one SELECT.

Forgetting deleted files: `plan` counts, per folder, the recorded photos it was asked about
(one integer increment); a folder left with fewer than it has records is remembered, and
`prune`, after a complete walk, lists only those folders and the recorded folders the walk did
not reach. A no-op rescan thus lists no folder a second time. Moves are recognised during the
walk, by records that are still there, so pruning comes last.

Errors: every sqlite3 error (and a TypeError from a malformed row) that a public method meets
becomes a StateError naming the database and what to do (free space, move a damaged file
aside), and drops the open batch; sqlite3.ProgrammingError, a misuse such as a call from
another thread, is not translated. A database found damaged when it is opened (its first
query fails, or `PRAGMA quick_check` does) is renamed to `<name>.damaged-<timestamp>` and a
fresh one is created: the sidecars keep their values, so the next runs only check the photos
again. When the full check runs, and why not always: see health.py.

Threads: a `StateDB` belongs to the thread that opened it (sqlite3's check_same_thread; another
thread gets sqlite3.ProgrammingError). Intended use: one owner thread (the pipeline's writer)
pulls photos from `discover`, calls `plan(photo, types)`, hands the work to the workers and
calls `mark_done`/`mark_failed` with their results. Discovery itself never touches the state,
so it may run ahead in a producer thread. A thread or process that needs the state too opens
its own `StateDB` on the same file: WAL lets it read while the owner writes, and writers wait
up to 30 s for each other (then StateError "database is locked").
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from xmpvision.discover import Photo
from xmpvision.errors import StateError
from xmpvision.state import health
from xmpvision.state.codec import fingerprint, from_db, to_db, to_i64
from xmpvision.state.housekeeping import nearest_existing, same_device, walked_root, within
from xmpvision.state.parallel import FoundParallel, from_rows
from xmpvision.state.schema import (
    BAD_MARK,
    CREATE,
    FALLBACK_FOLDERS,
    FALLBACK_IN_FOLDER,
    FIND_FILE,
    LOAD_FOLDER,
    LOAD_PARALLEL,
    SAVE_PARALLEL,
    SCHEMA_VERSION,
    SEP,
    UPDATE_DONE,
    UPGRADES,
)

logger = logging.getLogger(__name__)


class FallbackAnswers:
    """Photo -> {type: the fallback model that answered it} (see StateDB.fallback_answers);
    false when there are none. Keeps one folder's answers in memory at a time."""

    def __init__(self, state: StateDB, folders: set[str]) -> None:
        self._state = state
        self._folders = folders
        self._folder: str | None = None
        self._names: dict[str, dict[str, str]] = {}

    def __bool__(self) -> bool:
        return bool(self._folders)

    def get(self, photo: Photo) -> dict[str, str] | None:
        if photo.parent not in self._folders:
            return None
        if photo.parent != self._folder:
            self._names = self._state._fallback_in(photo.parent)
            self._folder = photo.parent
        return self._names.get(photo.name)


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
    # Why the file itself could not be used when it last failed, if it is unchanged since (or
    # moved): decoding it again would fail again. None for every other file.
    bad: str | None = None


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


# A folder's cached rows: name -> (name, size, mtime_ns, done key); the row exactly as sqlite3
# returns it, to build the dict without per-row Python work. The done key is `done`, or for a
# bad file its reason and `done` (see schema.py, `_key`).
_Row = tuple[str | bytes, int, int, str | None]


def _key(done: str | None, bad: str | None) -> str | None:
    return done if bad is None else f"{BAD_MARK}{bad}{BAD_MARK}{done or ''}"


def _unkey(key: str | None) -> tuple[str | None, str | None]:
    """(done, bad) of a done key."""
    if key is None or key[:1] != BAD_MARK:
        return key, None
    _, bad, done = key.split(BAD_MARK, 2)
    return done or None, bad


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(
    action: str,
) -> Callable[[Callable[Concatenate[StateDB, _P], _R]], Callable[Concatenate[StateDB, _P], _R]]:
    """A public method whose sqlite3 errors (and malformed rows) become StateError."""

    def decorate(method: Callable[Concatenate[StateDB, _P], _R]) -> Callable[
        Concatenate[StateDB, _P], _R
    ]:
        def translated(self: StateDB, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
                raise  # a misuse (another thread, a closed database): a bug, not the state
            except (sqlite3.Error, TypeError) as exc:
                raise self._failed(exc, action) from exc

        functools.update_wrapper(translated, method)  # its name and docstring
        return translated

    return decorate


class StateDB:
    """Per-file state of a photo library. Create with `StateDB.open(path)`; see module doc."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        *,
        batch_size: int = 1000,
        checked_at: float | None = None,
    ) -> None:
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
        # For `prune`: recorded photos of the cached folder asked about, of how many loaded;
        # the folders left with fewer, and every folder loaded.
        self._seen = 0
        self._loaded = 0
        self._short: set[str] = set()
        self._visited: set[str] = set()
        self._checked_at = checked_at  # the last full check (None: never, as for ":memory:")
        self._damaged = False  # met damage: checked in full at the next open
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str | None = None, *, batch_size: int = 1000) -> StateDB:
        """Open (creating if needed) the database at `path` (default: `default_state_path()`).

        A damaged database is moved aside (`<name>.damaged-<timestamp>`, logged as a warning)
        and a fresh one created. ":memory:" gives a throwaway database. Raises StateError.
        """
        target = str(path) if path is not None else str(default_state_path())
        if target == ":memory:":
            return cls(cls._connect_checked(target, check=False), target, batch_size=batch_size)
        try:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(target, exc.strerror or str(exc)) from exc
        now = time.time()
        exists = os.path.exists(target)  # a new database: nothing to check
        checked_at = health.last_check(target) if exists else now
        check = exists and (checked_at is None or now - checked_at > health.CHECK_INTERVAL)
        if check:
            checked_at = now
        try:
            conn = cls._connect_checked(target, check=check)
        except health.Damaged as damage:
            health.move_aside(target, str(damage))
            try:
                conn = cls._connect_checked(target, check=False)
            except health.Damaged as again:  # not the fresh file: someone put one back
                raise StateError(target, f"{again}; {health.DAMAGED}") from again
        return cls(conn, target, batch_size=batch_size, checked_at=checked_at)

    @classmethod
    def _connect_checked(cls, target: str, *, check: bool) -> sqlite3.Connection:
        """A connection to `target`, prepared; health.Damaged if the file is damaged."""
        try:
            conn = cls._connect(target)
        except sqlite3.Error as exc:
            raise StateError(target, health.reason(exc)) from exc
        try:
            cls._prepare(conn, target, check=check)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and health.means_damage(exc):
                raise health.Damaged(str(exc)) from exc
            if isinstance(exc, sqlite3.Error):
                raise StateError(target, health.reason(exc)) from exc
            raise
        return conn

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        return sqlite3.connect(target, timeout=30.0, isolation_level=None)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, target: str, *, check: bool) -> None:
        # The first statement reads the header and the schema: a file that is not a database,
        # or whose schema is damaged, fails here.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if check:
            health.quick_check(conn)
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
            StateDB._upgrade(conn)

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Again, under the write lock: another process may have upgraded it meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            steps = [CREATE] if version == 0 else [
                UPGRADES[n] for n in range(version, SCHEMA_VERSION)
            ]
            for statements in steps:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as exc:  # the error that brought us here is the one to tell
                    logger.debug("rollback of the upgrade failed: %s", exc)
            raise

    def close(self) -> None:
        """Commit pending classification writes and close. Safe to call twice."""
        if self._closed:
            return
        try:
            self.flush()
        except StateError as exc:
            # Only classification facts are lost; they are found again on the next scan.
            logger.warning("state database %s: batch not committed: %s", self.path, exc)
        finally:
            self._closed = True
            self._conn.close()
            if self.path != ":memory:":
                health.stamp(self.path, None if self._damaged else self._checked_at)

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

    def _failed(self, exc: BaseException, action: str) -> StateError:
        """`exc`, met while `action`, as a StateError; the open batch is dropped."""
        if health.means_damage(exc):
            self._damaged = True
        # SQLite may have rolled the batch back itself (disk full, I/O error); either way the
        # cache may hold rows that are not recorded.
        self._rollback()
        return StateError(self.path, health.reason(exc), action=action)

    # -- transactions ----------------------------------------------------------------------

    @_translated("writing")
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

    @contextmanager
    def _committed(self) -> Iterator[None]:
        """The writes of the block, with any pending batch, committed at its end; rolled back
        (the batch dropped) when it fails."""
        self._begin()
        try:
            yield
            self.flush()
        except BaseException:
            self._rollback()
            raise

    def _wrote(self) -> None:
        self._pending += 1
        if (
            self._pending >= self.batch_size
            or time.monotonic() - self._txn_started > self.max_batch_seconds
        ):
            self.flush()

    def _rollback(self) -> None:
        """Drop the open batch, and the folder cache, which may hold rows of it."""
        self._leave_folder()
        self._in_txn = False
        self._pending = 0
        self._folder = None
        self._folder_id = None
        self._rows = {}
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:  # the error that brought us here is the one to tell
                logger.debug("state database %s: rollback failed: %s", self.path, exc)

    # -- folder cache ----------------------------------------------------------------------

    def _load_folder(self, folder: str) -> None:
        self._leave_folder()
        self._folder = None
        self._folder_id = None  # looked up when the first write in this folder needs it
        self._rows = {}
        rows: dict[Any, _Row] = {
            row[0]: row for row in self._conn.execute(LOAD_FOLDER, (to_db(folder),))
        }
        if bytes in set(map(type, rows)):  # rare: some names are not valid UTF-8
            rows = {from_db(name): row for name, row in rows.items()}
        self._rows = rows
        self._folder = folder
        self._loaded = len(rows)
        self._seen = 0
        self._visited.add(folder)

    def _leave_folder(self) -> None:
        if self._folder is not None and self._seen < self._loaded:
            self._short.add(self._folder)  # some recorded photo was not seen: deleted?
        self._loaded = 0

    def _folder_id_for_write(self) -> int:
        if self._folder_id is None:
            assert self._folder is not None
            key = to_db(self._folder)
            self._conn.execute("INSERT OR IGNORE INTO dirs(path) VALUES (?)", (key,))
            found = self._conn.execute("SELECT id FROM dirs WHERE path = ?", (key,)).fetchone()
            self._folder_id = int(found[0])
        return self._folder_id

    def _set_row(self, photo: Photo, done: str | None, bad: str | None) -> None:
        self._rows[photo.name] = (photo.name, photo.size, photo.mtime_ns, _key(done, bad))

    def _type_key(self, type_: str) -> str:
        key = self._type_keys.get(type_)
        if key is None:
            if not type_ or SEP in type_:
                raise ValueError(f"invalid model type {type_!r}")
            key = self._type_keys[type_] = f"{SEP}{type_}{SEP}"
        return key

    # -- classification --------------------------------------------------------------------

    @_translated("updating")
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
        if row is not None:
            self._seen += 1
            if row[1] == photo.size and row[2] == photo.mtime_ns:
                return FileStatus.UNCHANGED
        return self._record(photo, known=row is not None)

    def plan(self, photo: Photo, types: tuple[str, ...], *, force: bool = False) -> Plan:
        """`classify(photo)` and the `types` it `needs`, in one call: the pipeline's per-file
        question. For an unchanged photo this is three dict lookups and no SQL.

        Pass the same `types` tuple object on every call: unchanged plans are shared per
        (types, done types), not rebuilt. `Plan.bad` tells a file that failed for a reason of
        its own and is unchanged since; its `todo` is what it would need.
        """
        # Not @_translated: no wrapper frame on the per-file hot path (try costs nothing).
        try:
            if photo.parent != self._folder:
                self._load_folder(photo.parent)
            row = self._rows.get(photo.name)
            if row is None or row[1] != photo.size or row[2] != photo.mtime_ns:
                return self._plan_recorded(photo, types, force, known=row is not None)
            self._seen += 1
            if force:
                return Plan(FileStatus.UNCHANGED, types, _unkey(row[3])[1])
            if types is not self._plan_types:
                self._plan_types = types
                self._plans = {}
            found = self._plans.get(row[3])
            if found is None:
                done, bad = _unkey(row[3])
                found = Plan(FileStatus.UNCHANGED, self._todo(done, types), bad)
                if bad is None:  # a bad file's plan holds its reason: not shared
                    self._plans[row[3]] = found
            return found
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except (sqlite3.Error, TypeError) as exc:
            raise self._failed(exc, "updating") from exc

    def _plan_recorded(
        self, photo: Photo, types: tuple[str, ...], force: bool, *, known: bool
    ) -> Plan:
        if known:
            self._seen += 1
        status = self._record(photo, known=known)
        done, bad = _unkey(self._rows[photo.name][3])
        return Plan(status, types if force else self._todo(done, types), bad)

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
                "UPDATE files SET size=?, mtime_ns=?, dev=?, ino=?, fingerprint=?, done=NULL,"
                " bad=NULL WHERE id=?",
                (*stat_values, known_id),
            )
            conn.execute("DELETE FROM results WHERE file_id = ?", (known_id,))
            self._set_row(photo, None, None)
            self._wrote()
            return FileStatus.CHANGED
        moved = self._find_moved(photo, fp) if fp is not None else None
        folder_id = self._folder_id_for_write()
        if moved is not None:
            file_id, old_path, done, bad = moved
            conn.execute(
                "UPDATE files SET dir_id=?, name=?, size=?, mtime_ns=?, dev=?, ino=?,"
                " fingerprint=?, kind=? WHERE id=?",
                (folder_id, to_db(photo.name), *stat_values, photo.kind, file_id),
            )
            old_parent, old_name = os.path.split(old_path)
            if old_parent == self._folder:
                self._rows.pop(old_name, None)
            self._set_row(photo, done, bad)  # same bytes: a bad file stays bad
            self._moved_from[photo.path] = old_path
            logger.info("moved: %s -> %s", old_path, photo.path)
            self._wrote()
            return FileStatus.MOVED
        conn.execute(
            "INSERT INTO files(dir_id, name, size, mtime_ns, dev, ino, fingerprint, kind,"
            " first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (folder_id, to_db(photo.name), *stat_values, photo.kind, time.time()),
        )
        self._set_row(photo, None, None)
        self._wrote()
        return FileStatus.NEW

    def _find_moved(
        self, photo: Photo, fp: bytes
    ) -> tuple[int, str, str | None, str | None] | None:
        candidates = self._conn.execute(
            "SELECT f.id, d.path, f.name, f.done, f.bad FROM files f"
            " JOIN dirs d ON d.id = f.dir_id WHERE f.fingerprint = ? AND f.size = ?",
            (fp, photo.size),
        ).fetchall()
        for file_id, dir_path, name, done, bad in candidates:
            old_path = os.path.join(from_db(dir_path), from_db(name))
            if old_path != photo.path and not os.path.lexists(old_path):
                return int(file_id), old_path, done, bad
        return None  # none, or a copy: the original is still there

    def moved_from(self, photo: Photo) -> str | None:
        """The old path of a photo that `classify` found MOVED in this session."""
        return self._moved_from.get(photo.path)

    # -- per-type status -------------------------------------------------------------------

    @_translated("reading")
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
            done = _unkey(row[3])[0]
            return done is None or key not in done
        record = self.result(photo, type_)
        return record is None or record.status != "done"

    @_translated("reading")
    def result(self, photo: Photo, type_: str) -> ResultRecord | None:
        """The recorded outcome of `type_` for `photo`'s path, if any (one SELECT)."""
        row = self._conn.execute(
            "SELECT r.type, r.status, r.model, r.source, r.finished_at, r.error, r.attempts"
            " FROM results r JOIN files f ON f.id = r.file_id JOIN dirs d ON d.id = f.dir_id"
            " WHERE d.path = ? AND f.name = ? AND r.type = ?",
            (to_db(photo.parent), to_db(photo.name), type_),
        ).fetchone()
        return None if row is None else ResultRecord(*row)

    @_translated("writing")
    def mark_done(self, photo: Photo, type_: str, *, model: str, source: str,
                  fallback: Iterable[str] = ()) -> None:
        """Record that `type_` finished for `photo` and commit (with any pending batch).
        `fallback`: the better models that were down, so `model` is a fallback's."""
        self._mark(photo, type_, "done", model, source, None, ", ".join(fallback) or None)

    @_translated("reading")
    def fallback_answers(self) -> FallbackAnswers:
        """The types a fallback answered while a better model was down, per photo: one query
        for the folders that hold any (none on a library without outages); a folder's photos
        are read when the walk asks about one of them."""
        folders = {from_db(row[0]) for row in self._conn.execute(FALLBACK_FOLDERS)}
        return FallbackAnswers(self, folders)

    @_translated("writing")
    def keep_fallback(self, photo: Photo, type_: str) -> None:
        """The better models answered `type_` for `photo` but could not use it (not because
        they were down): the fallback's values stay, and it is not asked for again."""
        file_id = self._file_id(photo)
        with self._committed():
            self._conn.execute("UPDATE results SET fallback = NULL WHERE file_id = ? AND type = ?",
                               (file_id, type_))

    @_translated("reading")
    def _fallback_in(self, folder: str) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for name, type_, model in self._conn.execute(FALLBACK_IN_FOLDER, (to_db(folder),)):
            found.setdefault(from_db(name), {})[type_] = model
        return found

    @_translated("writing")
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
        fallback: str | None = None,
    ) -> None:
        self._type_key(type_)  # validates the name
        file_id = self._file_id(photo)
        # Durable per file: a kill -9 loses at most the file in flight.
        with self._committed():
            self._conn.execute(
                "INSERT INTO results(file_id, type, status, model, source, finished_at, error,"
                " fallback) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(file_id, type) DO UPDATE SET status=excluded.status,"
                " model=excluded.model, source=excluded.source,"
                " finished_at=excluded.finished_at, error=excluded.error,"
                " fallback=excluded.fallback,"
                " attempts=CASE WHEN excluded.status = 'failed' AND status = 'failed'"
                " THEN attempts + 1 ELSE 1 END",
                (file_id, type_, status, model, source, time.time(), error, fallback),
            )
            self._conn.execute(UPDATE_DONE, (file_id,))
            # Not UPDATE ... RETURNING: that needs SQLite 3.35, older than some NAS systems ship.
            done, bad = self._file_flags(file_id)
        if photo.parent == self._folder and photo.name in self._rows:
            self._set_row(photo, done, bad)

    @_translated("writing")
    def set_bad(self, photo: Photo, reason: str | None) -> None:
        """Record that `photo` itself cannot be used and why (empty, truncated, not an image),
        or, with None, that it can again; commits. Cleared too when the file changes. While
        set, `plan` tells it in `Plan.bad`, so a run can skip the file instead of failing on
        it again."""
        if reason is not None:
            reason = reason.replace(BAD_MARK, " ")  # it separates the reason in the cache
        file_id = self._file_id(photo)
        with self._committed():
            self._conn.execute("UPDATE files SET bad = ? WHERE id = ?", (reason, file_id))
            done, bad = self._file_flags(file_id)
        if photo.parent == self._folder and photo.name in self._rows:
            self._set_row(photo, done, bad)

    @_translated("writing")
    def forget(self, photo: Photo, types: Iterable[str]) -> None:
        """Drop the recorded results of `types` for `photo` (after `vision reset`), so the
        next run produces them again; commits."""
        wanted = list(types)
        for type_ in wanted:
            self._type_key(type_)
        file_id = self._file_id(photo)
        with self._committed():
            self._conn.executemany(
                "DELETE FROM results WHERE file_id = ? AND type = ?",
                [(file_id, t) for t in wanted],
            )
            self._conn.execute(UPDATE_DONE, (file_id,))
            done, bad = self._file_flags(file_id)  # a separate SELECT, as in _mark
        if photo.parent == self._folder and photo.name in self._rows:
            self._set_row(photo, done, bad)

    @_translated("writing")
    def set_vocabulary(self, photo: Photo, paths: Iterable[str]) -> None:
        """Record the owner's keywords of `photo` ("|"-separated paths), replacing the ones
        recorded before; committed with the photo's results (no commit of its own)."""
        file_id = self._file_id(photo)
        self._begin()
        self._conn.execute("DELETE FROM vocabulary WHERE file_id = ?", (file_id,))
        self._conn.executemany("INSERT OR IGNORE INTO vocabulary(file_id, path) VALUES (?, ?)",
                               [(file_id, path) for path in paths])
        self._wrote()

    @_translated("reading")
    def vocabulary(self) -> dict[str, int]:
        """The owner's keywords over the library: path -> how many photos have it."""
        rows = self._conn.execute("SELECT path, count(*) FROM vocabulary GROUP BY path")
        return {str(path): int(count) for path, count in rows}

    @_translated("writing")
    def keep_parallel(self, found: Mapping[str, FoundParallel]) -> None:
        """Record what `Parallel: auto` found on these services (by capacity key), replacing
        what was recorded for them; the others keep theirs. Commits."""
        with self._committed():
            self._conn.executemany(SAVE_PARALLEL, [
                (service, f.found, f.most, f.at) for service, f in found.items()])

    @_translated("reading")
    def parallel_found(self) -> dict[str, FoundParallel]:
        """What `Parallel: auto` found per service, as recorded by `keep_parallel`."""
        return from_rows(self._conn.execute(LOAD_PARALLEL))

    def _file_flags(self, file_id: int) -> tuple[str | None, str | None]:
        found = self._conn.execute("SELECT done, bad FROM files WHERE id = ?", (file_id,))
        done, bad = found.fetchone()
        return done, bad

    def _file_id(self, photo: Photo) -> int:
        """The record id of `photo`'s path (one SELECT: ids are not kept in the folder cache)."""
        key = (to_db(photo.parent), to_db(photo.name))
        found = self._conn.execute(FIND_FILE, key).fetchone()
        if found is None:
            self.classify(photo)  # marked without being classified first: record it now
            found = self._conn.execute(FIND_FILE, key).fetchone()
        return int(found[0])

    # -- housekeeping ----------------------------------------------------------------------

    def start_walk(self) -> None:
        """Start counting, for `prune`, which folders a walk sees; call before the walk."""
        self._leave_folder()
        self._folder, self._rows = None, {}  # reloaded, and counted, by the walk
        self._short, self._visited = set(), set()

    @_translated("writing")
    def prune(
        self, roots: Iterable[str | os.PathLike[str]], *, skip: Iterable[str] = ()
    ) -> int:
        """After a complete walk of `roots` (since `start_walk`) that planned every photo
        found: delete the records of files under them that no longer exist; returns how many.

        Only folders where `plan` met fewer recorded photos than recorded, and recorded folders
        the walk did not reach, are listed. Nothing is forgotten under a root that is missing,
        not a folder or empty (an unmounted share), in the folders of `skip` (paths of
        discovery errors) and below those paths, in a folder that cannot be listed, or in a
        vanished or empty folder whose files were recorded on another file system than is
        there now (a share mounted inside the root, not mounted now).
        """
        self._leave_folder()
        short, visited = self._short, self._visited
        self._short, self._visited = set(), set()
        self._folder, self._rows = None, {}  # its count is in `short` now
        self.flush()

        def pick(folder: str) -> bool:
            return folder not in visited or folder in short

        return self._prune(roots, skip, pick)

    @_translated("writing")
    def forget_missing(self, roots: Iterable[str | os.PathLike[str]]) -> int:
        """Delete the records of files under `roots` that no longer exist; returns how many.

        Like `prune`, but every recorded folder under `roots` is listed: for use without a
        walk. Run after a full scan (moves are recognised during the scan, by records that
        are still there).
        """
        self._leave_folder()
        self._folder, self._rows = None, {}
        self.flush()
        return self._prune(roots, (), lambda folder: True)

    def _prune(
        self,
        roots: Iterable[str | os.PathLike[str]],
        skip: Iterable[str],
        pick: Callable[[str], bool],
    ) -> int:
        tops = [top for top in map(walked_root, roots) if top is not None]
        if not tops:
            return 0
        # A discovery error: its folder, and all below the path, may not have been walked.
        skip_trees = list(skip)
        skip_folders = {os.path.dirname(path) for path in skip_trees}
        removed = 0
        for dir_id, dir_path in self._conn.execute("SELECT id, path FROM dirs").fetchall():
            folder = from_db(dir_path)
            if not pick(folder) or folder in skip_folders:
                continue
            top = next((t for t in tops if within(folder, t)), None)
            if top is None or any(within(folder, s) for s in skip_trees):
                continue
            removed += self._prune_folder(int(dir_id), folder, top)
        self.flush()
        return removed

    def _prune_folder(self, dir_id: int, folder: str, top: str) -> int:
        rows = self._conn.execute(
            "SELECT id, name, dev FROM files WHERE dir_id = ?", (dir_id,)
        ).fetchall()
        where: str | None = folder
        try:
            present = set(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            present, where = set(), nearest_existing(folder, top)
        except OSError as exc:
            logger.warning("not forgetting photos in %s: cannot list it: %s", folder,
                           exc.strerror or exc)
            return 0
        # Gone, or empty: only believed where the files lived on the file system that is there
        # now. Else it is the mount point of a share that is not mounted.
        if not present and (where is None or not same_device(where, {row[2] for row in rows})):
            logger.info("not forgetting photos in %s: its share is not mounted?", folder)
            return 0
        gone = [(row[0],) for row in rows if from_db(row[1]) not in present]
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
        if gone:
            logger.info("forgot %d deleted photo(s) in %s", len(gone), folder)
        return len(gone)
