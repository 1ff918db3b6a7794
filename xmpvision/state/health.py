"""Keeping the state database usable: its errors as reasons that say what to do, the full check
when it is opened (with the stamp that lets a file untouched since its clean close skip it), and
moving a damaged file aside.

The full check (`PRAGMA quick_check`) reads the whole file, 80 ms per 100,000 photos: run on
every open it alone would cost a no-op rescan a third of `find`'s time. So it runs when the
file is not as the last clean close left it (`<name>.checked` records its st_dev, st_ino, size
and mtime: another writer, a crash, a restored copy all change them), after a session that met
damage, and at least every CHECK_INTERVAL (damage at rest changes nothing of the file's stat).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time

from xmpvision.errors import StateError

logger = logging.getLogger(__name__)

# Seconds after which a database untouched since its clean close is checked in full again.
CHECK_INTERVAL = 12 * 3600.0

DAMAGED = ("the file is damaged: move it aside and xmpvision starts a fresh one (photos are "
           "then checked again; their sidecars keep their values)")
_WRITABLE = "make it and its folder writable for the user xmpvision runs as"
_BUSY = "another process is writing to it: run again when it is done"
_ADVICE: dict[int, str] = {
    sqlite3.SQLITE_FULL: "free space on the disk holding it, then run again",
    sqlite3.SQLITE_CORRUPT: DAMAGED,
    sqlite3.SQLITE_NOTADB: DAMAGED,
    sqlite3.SQLITE_IOERR: "the disk (or share) holding it reported an I/O error: check it",
    sqlite3.SQLITE_READONLY: _WRITABLE,
    sqlite3.SQLITE_CANTOPEN: _WRITABLE,
    sqlite3.SQLITE_PERM: _WRITABLE,
    sqlite3.SQLITE_BUSY: _BUSY,
    sqlite3.SQLITE_LOCKED: _BUSY,
}
_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


class Damaged(Exception):
    """The database file failed its check when it was opened: it is to be moved aside."""


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None  # an extended code keeps it there


def means_damage(exc: BaseException) -> bool:
    """Whether an error met reading the database says its file is damaged."""
    return isinstance(exc, TypeError) or _primary_code(exc) in _DAMAGE_CODES


def reason(exc: BaseException) -> str:
    """A sqlite3 error, or a TypeError from a malformed row: what went wrong, and what to do."""
    if isinstance(exc, TypeError):  # a value of the wrong type where a record is read
        return f"malformed record ({exc}); {DAMAGED}"
    advice = _ADVICE.get(_primary_code(exc) or -1)
    return f"{exc}; {advice}" if advice else str(exc)


def _stamp_path(target: str) -> str:
    return f"{target}.checked"


def _identity(target: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(target)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def last_check(target: str) -> float | None:
    """When the database was last checked in full, if it is as its last clean close left it."""
    try:
        with open(_stamp_path(target), encoding="ascii") as stamp:
            *identity, checked_at = stamp.read().split()
        recorded = tuple(int(v) for v in identity)
        when = float(checked_at)
    except (OSError, ValueError):
        return None
    return when if recorded == _identity(target) else None


def stamp(target: str, checked_at: float | None) -> None:
    """After a clean close: record the file as it is, checked in full at `checked_at`; with
    None (damage met, or never checked), remove the record so the next open checks it."""
    path = _stamp_path(target)
    identity = _identity(target)
    try:
        if checked_at is None or identity is None:
            if os.path.lexists(path):
                os.unlink(path)
            return
        temp = f"{path}.tmp"
        with open(temp, "w", encoding="ascii") as out:
            out.write(" ".join(map(str, (*identity, checked_at))) + "\n")
        os.replace(temp, path)
    except OSError as exc:  # then the next open checks the file in full
        logger.debug("state database %s: cannot write %s: %s", target, path, exc)


def quick_check(conn: sqlite3.Connection) -> None:
    """Raises Damaged if SQLite finds the file damaged."""
    problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise Damaged("quick_check: " + "; ".join(problems[:3]))


def move_aside(target: str, why: str) -> str:
    """Rename a damaged database to `<name>.damaged-<timestamp>`, logged as a warning; its
    new name. The sidecars keep their values, so the fresh database only has every photo
    checked again."""
    stamp_time = time.strftime("%Y%m%d-%H%M%S")
    aside, suffix = f"{target}.damaged-{stamp_time}", 1
    while os.path.lexists(aside):
        suffix += 1
        aside = f"{target}.damaged-{stamp_time}-{suffix}"
    try:
        os.rename(target, aside)
        # The write-ahead log belongs to the damaged file: a fresh database must not replay
        # it. The shared-memory index is rebuilt from the log.
        if os.path.lexists(f"{target}-wal"):
            os.rename(f"{target}-wal", f"{aside}-wal")
        for leftover in (f"{target}-shm", _stamp_path(target)):
            if os.path.lexists(leftover):
                os.unlink(leftover)
    except OSError as exc:
        raise StateError(target, f"damaged ({why}) and cannot be moved aside: "
                         f"{exc.strerror or exc}; move it away by hand") from exc
    logger.warning(
        "state database %s is damaged (%s): moved it to %s and started a fresh one; photos "
        "are checked again, their sidecars keep their values", target, why, aside,
    )
    return aside
