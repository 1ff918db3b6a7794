"""State database: classification, per-type status, batching, moves, resume after kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xmpvision.discover import Photo, discover
from xmpvision.errors import StateError
from xmpvision.state import FileStatus, Plan, StateDB, codec, default_state_path, health, schema
from xmpvision.state import db as state_module
from xmpvision.state.codec import fingerprint

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, data: bytes = b"jpeg") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def photos(*roots: Path) -> list[Photo]:
    return [p for p in discover(roots) if isinstance(p, Photo)]


def photo(path: Path) -> Photo:
    (found,) = photos(path)
    return found


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    with StateDB.open(tmp_path / "state" / "state.sqlite3") as state:
        yield state


def scan(state: StateDB, root: Path) -> dict[str, FileStatus]:
    return {os.path.relpath(p.path, root): state.classify(p) for p in photos(root)}


# -- paths ----------------------------------------------------------------------------------


def test_default_state_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_path() == tmp_path / "xmpvision" / "state.sqlite3"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME")
    expected = tmp_path / "home" / ".local" / "state" / "xmpvision" / "state.sqlite3"
    assert default_state_path() == expected
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # invalid per the XDG spec
    assert default_state_path() == expected


def test_open_creates_folders_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.sqlite3"
    with StateDB.open(path):
        pass
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


def test_open_rejects_a_newer_database(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(StateError, match="schema version 99 is newer"):
        StateDB.open(newer)
    assert newer.exists() and not list(tmp_path.glob("*.damaged-*"))  # not taken for damage


def test_a_file_that_is_not_a_database_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    junk = write(tmp_path / "junk.sqlite3", b"this is not a database" * 100)
    with StateDB.open(junk) as state:
        assert state.classify(photo(write(tmp_path / "lib" / "a.jpg"))) is FileStatus.NEW
    (aside,) = tmp_path.glob("junk.sqlite3.damaged-*")
    assert aside.read_bytes() == b"this is not a database" * 100
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert str(junk) in warning.getMessage() and str(aside) in warning.getMessage()


V1_SCHEMA = """
CREATE TABLE dirs (id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE);
CREATE TABLE files (
    id INTEGER PRIMARY KEY, dir_id INTEGER NOT NULL REFERENCES dirs(id), name BLOB NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, dev INTEGER NOT NULL,
    ino INTEGER NOT NULL, fingerprint BLOB, kind TEXT NOT NULL, first_seen REAL NOT NULL,
    done TEXT, UNIQUE (dir_id, name));
CREATE INDEX files_fingerprint ON files(fingerprint) WHERE fingerprint IS NOT NULL;
CREATE TABLE results (
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE, type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')), model TEXT, source TEXT,
    finished_at REAL NOT NULL, error TEXT, attempts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (file_id, type)) WITHOUT ROWID;
PRAGMA user_version = 1;
"""


def test_a_version_1_database_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    p = photo(write(tmp_path / "lib" / "a.jpg", b"photo"))
    path = tmp_path / "state.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.execute("INSERT INTO dirs(id, path) VALUES (1, ?)", (p.parent,))
    conn.execute(
        "INSERT INTO files VALUES (1, 1, ?, ?, ?, ?, ?, NULL, 'jpeg', 0, '|labels|')",
        (p.name, p.size, p.mtime_ns, p.dev, p.ino),
    )
    conn.execute("INSERT INTO results VALUES (1, 'labels', 'done', 'm', 'ollama', 0, NULL, 1)")
    conn.commit()
    conn.close()
    with StateDB.open(path) as state:
        assert state.plan(p, ("labels", "caption")) == Plan(FileStatus.UNCHANGED, ("caption",))
        record = state.result(p, "labels")
        assert record is not None and record.model == "m"
        state.set_bad(p, "truncated")
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 5
    assert check.execute("SELECT bad FROM files").fetchall() == [("truncated",)]
    check.close()


def damage(path: Path) -> None:
    """Overwrite bytes in the middle of a closed database: its header stays valid."""
    # File times are as fine as the kernel's clock tick: let the damage come later than the
    # close, as it does outside a test.
    time.sleep(0.05)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = os.urandom(2000)
    path.write_bytes(bytes(data))


def many_rows(path: Path, lib: Path, count: int = 600) -> list[Photo]:
    for n in range(count):
        write(lib / f"d{n // 100}" / f"{n:04d}.jpg", n.to_bytes(2, "big") * 50)
    found = photos(lib)
    with StateDB.open(path) as state:
        for p in found:
            state.classify(p)
            state.mark_done(p, "labels", model="m", source="ollama")
    return found


def test_damaged_pages_are_found_at_open_and_the_file_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    found = many_rows(path, tmp_path / "lib")
    damage(path)
    with StateDB.open(path) as state:  # a fresh database: everything is new again
        assert {state.plan(p, ("labels",)).status for p in found} == {FileStatus.NEW}
    (aside,) = tmp_path.glob("state.sqlite3.damaged-*")
    check = sqlite3.connect(aside)
    try:
        assert check.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    except sqlite3.DatabaseError as exc:
        assert "malformed" in str(exc)
    finally:
        check.close()
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert str(path) in warning.getMessage() and str(aside) in warning.getMessage()
    with StateDB.open(path) as state:
        assert {state.plan(p, ("labels",)).status for p in found} == {FileStatus.UNCHANGED}


def traced_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement run by the StateDBs opened from now on, from their first."""
    statements: list[str] = []
    real = StateDB._connect

    def connect(target: str) -> sqlite3.Connection:
        conn = real(target)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(StateDB, "_connect", staticmethod(connect))
    return statements


def test_the_full_check_is_skipped_while_the_file_is_as_it_was_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite3"
    many_rows(path, tmp_path / "lib", count=5)
    statements = traced_opens(monkeypatch)

    def checked() -> bool:
        statements.clear()
        with StateDB.open(path):
            pass
        return any("quick_check" in s for s in statements)

    assert not checked()  # closed cleanly, untouched since
    assert not checked()
    time.sleep(0.05)
    os.utime(path)  # touched by someone else
    assert checked()
    assert not checked()
    monkeypatch.setattr(health, "CHECK_INTERVAL", 0.0)
    assert checked()  # at least every CHECK_INTERVAL
    monkeypatch.undo()
    with StateDB.open(path) as state:  # a session that meets damage ...
        state._conn.execute("UPDATE files SET done = x'7c6c6162656c737c'")
        with pytest.raises(StateError, match="malformed record"):
            state.plan(photos(tmp_path / "lib")[0], ("labels",))
    statements = traced_opens(monkeypatch)
    assert checked()  # ... has the next open check in full


# -- errors after open -----------------------------------------------------------------------


def test_disk_full_is_a_state_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    lib = tmp_path / "lib"
    for n in range(400):
        write(lib / f"{n:03d}.jpg", n.to_bytes(2, "big") * 40)
    found = photos(lib)
    with StateDB.open(path, batch_size=10) as state:
        pages = state._conn.execute("PRAGMA page_count").fetchone()[0]
        state._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StateError) as raised:
            for p in found:
                state.plan(p, ("labels",))
                state.mark_done(p, "labels", model="m", source="ollama")
        message = str(raised.value)
        assert message.startswith("error ")
        assert f"state database {path}: database or disk is full; free space on the disk" in message
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        # Still usable after the error: reads work, and so do writes once there is room.
        state._conn.execute("PRAGMA max_page_count = 1000000")
        assert state.needs(found[0], "labels") in (True, False)
        state.mark_done(found[-1], "labels", model="m", source="ollama")
        assert not state.needs(found[-1], "labels")


def test_a_malformed_row_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    p = photo(write(tmp_path / "lib" / "a.jpg"))
    with StateDB.open(path) as state:
        state.classify(p)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE files SET done = x'7c6c6162656c737c'")
    conn.commit()
    conn.close()
    with StateDB.open(path) as state:
        with pytest.raises(StateError, match=rf"state database {path}: malformed record .*"
                                             "move it aside"):
            state.plan(p, ("labels",))
        assert state.classify(p) is FileStatus.UNCHANGED  # its done types are not read
        with pytest.raises(StateError, match="malformed record"):
            state.needs(p, "labels")
# -- classification -------------------------------------------------------------------------


def test_new_then_unchanged_across_sessions(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write(lib / "a.jpg")
    write(lib / "sub" / "b.png")
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        assert scan(state, lib) == {"a.jpg": FileStatus.NEW, "sub/b.png": FileStatus.NEW}
        assert set(scan(state, lib).values()) == {FileStatus.UNCHANGED}
    with StateDB.open(path) as state:
        assert set(scan(state, lib).values()) == {FileStatus.UNCHANGED}


def test_changed_size_or_mtime_invalidates_results(db: StateDB, tmp_path: Path) -> None:
    a = write(tmp_path / "a.jpg", b"one")
    b = write(tmp_path / "b.jpg", b"two")
    for p in photos(tmp_path):
        db.classify(p)
        db.mark_done(p, "labels", model="gemma3", source="ollama")
    write(a, b"longer content")  # size differs
    st = b.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # mtime only
    assert scan(db, tmp_path) == {"a.jpg": FileStatus.CHANGED, "b.jpg": FileStatus.CHANGED}
    assert db.needs(photo(a), "labels") and db.needs(photo(b), "labels")
    assert db.result(photo(a), "labels") is None
    assert scan(db, tmp_path) == {"a.jpg": FileStatus.UNCHANGED, "b.jpg": FileStatus.UNCHANGED}
    assert db.needs(photo(a), "labels")  # still to do: the change was recorded, not the work


def test_rename_is_a_move_that_keeps_results(db: StateDB, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    old = write(lib / "2023" / "IMG_1.jpg", os.urandom(200_000))
    write(lib / "2023" / "IMG_2.jpg", os.urandom(100))
    db.classify(photo(old))
    db.mark_done(photo(old), "caption", model="gemma3", source="ollama")
    new = lib / "2024" / "renamed.jpg"
    new.parent.mkdir()
    old.rename(new)
    assert scan(db, lib) == {"2023/IMG_2.jpg": FileStatus.NEW, "2024/renamed.jpg": FileStatus.MOVED}
    moved = photo(new)
    assert db.moved_from(moved) == str(old)
    assert not db.needs(moved, "caption")
    assert db.needs(moved, "labels")
    record = db.result(moved, "caption")
    assert record is not None and record.model == "gemma3"
    assert scan(db, lib)["2024/renamed.jpg"] is FileStatus.UNCHANGED


def test_rename_within_a_folder(db: StateDB, tmp_path: Path) -> None:
    old = write(tmp_path / "a.jpg", b"same bytes")
    db.classify(photo(old))
    db.mark_done(photo(old), "labels", model="m", source="image")
    old.rename(tmp_path / "b.jpg")
    assert scan(db, tmp_path) == {"b.jpg": FileStatus.MOVED}
    assert not db.needs(photo(tmp_path / "b.jpg"), "labels")


def test_copy_is_new_not_a_move(db: StateDB, tmp_path: Path) -> None:
    original = write(tmp_path / "a.jpg", b"content")
    db.classify(photo(original))
    db.mark_done(photo(original), "labels", model="m", source="ollama")
    write(tmp_path / "copy.jpg", b"content")
    assert scan(db, tmp_path) == {"a.jpg": FileStatus.UNCHANGED, "copy.jpg": FileStatus.NEW}
    assert db.needs(photo(tmp_path / "copy.jpg"), "labels")
    assert not db.needs(photo(original), "labels")


def test_vanished_file_of_other_content_is_not_a_move(db: StateDB, tmp_path: Path) -> None:
    gone = write(tmp_path / "a.jpg", b"aaaa")
    db.classify(photo(gone))
    gone.unlink()
    write(tmp_path / "b.jpg", b"bbbb")  # same size, other bytes
    assert scan(db, tmp_path) == {"b.jpg": FileStatus.NEW}


def test_fingerprint_reads_only_head_and_tail(tmp_path: Path) -> None:
    chunk = codec.FINGERPRINT_CHUNK
    head, middle, tail = os.urandom(chunk), os.urandom(chunk), os.urandom(chunk)
    a = write(tmp_path / "a", head + middle + tail)
    b = write(tmp_path / "b", head + os.urandom(chunk) + tail)  # only the middle differs
    c = write(tmp_path / "c", head + middle + os.urandom(chunk))
    d = write(tmp_path / "d", head + middle + tail + b"\0")
    size = 3 * chunk
    assert fingerprint(str(a), size) == fingerprint(str(b), size)
    assert fingerprint(str(a), size) != fingerprint(str(c), size)
    assert fingerprint(str(a), size) != fingerprint(str(d), size + 1)
    small = write(tmp_path / "s", b"tiny")
    assert fingerprint(str(small), 4) != fingerprint(str(write(tmp_path / "t", b"tinY")), 4)
    assert len(fingerprint(str(small), 4)) == 16


def test_unchanged_files_are_never_read(
    db: StateDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        write(tmp_path / f"{n}.jpg", bytes([n]) * 10)
    reads: list[str] = []
    real = codec.fingerprint

    def counting(path: str, size: int) -> bytes:
        reads.append(path)
        return real(path, size)

    monkeypatch.setattr(state_module, "fingerprint", counting)
    scan(db, tmp_path)
    assert len(reads) == 5  # new files
    reads.clear()
    write(tmp_path / "2.jpg", b"changed!")
    assert list(scan(db, tmp_path).values()).count(FileStatus.UNCHANGED) == 4
    assert reads == [str(tmp_path / "2.jpg")]  # only the changed one


def test_unreadable_new_file_is_recorded_without_fingerprint(
    db: StateDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = photo(write(tmp_path / "a.jpg"))

    def denied(path: str, size: int) -> bytes:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(state_module, "fingerprint", denied)
    assert db.classify(p) is FileStatus.NEW
    assert db.classify(p) is FileStatus.UNCHANGED


# -- per-type status ------------------------------------------------------------------------


def test_needs_done_failed_and_force(db: StateDB, tmp_path: Path) -> None:
    p = photo(write(tmp_path / "a.jpg"))
    assert db.classify(p) is FileStatus.NEW
    assert db.needs(p, "labels") and db.needs(p, "caption")
    db.mark_done(p, "labels", model="gemma3:latest", source="ollama")
    db.mark_failed(p, "caption", "ollama: timeout after 120 s", model="gemma3:latest")
    assert not db.needs(p, "labels")
    assert db.needs(p, "labels", force=True)
    assert db.needs(p, "caption")  # a failure is retried on the next run
    db.mark_failed(p, "caption", "still down")
    failed = db.result(p, "caption")
    assert failed is not None
    assert (failed.status, failed.error, failed.attempts) == ("failed", "still down", 2)
    db.mark_done(p, "caption", model="llava", source="ollama")
    done = db.result(p, "caption")
    assert done is not None
    assert (done.status, done.model, done.source, done.error, done.attempts) == (
        "done", "llava", "ollama", None, 1,
    )  # fmt: skip
    assert not db.needs(p, "caption")


def test_plan_answers_status_and_todo(db: StateDB, tmp_path: Path) -> None:
    p = photo(write(tmp_path / "a.jpg"))
    types = ("labels", "caption")
    assert db.plan(p, types) == Plan(FileStatus.NEW, types)
    db.mark_done(p, "caption", model="m", source="ollama")
    assert db.plan(p, types) == Plan(FileStatus.UNCHANGED, ("labels",))
    db.mark_done(p, "labels", model="m", source="ollama")
    assert db.plan(p, types) == Plan(FileStatus.UNCHANGED, ())
    assert db.plan(p, types, force=True) == Plan(FileStatus.UNCHANGED, types)


def test_done_status_survives_reopen_and_is_per_path(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    a, b = write(lib / "a" / "x.jpg", b"1"), write(lib / "b" / "x.jpg", b"2")
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        scan(state, lib)
        state.mark_done(photo(a), "labels", model="m", source="ollama")
    with StateDB.open(path) as state:
        # Asked before classify and from another folder than the cached one: a SELECT.
        assert not state.needs(photo(a), "labels")
        assert state.needs(photo(b), "labels")
        assert state.plan(photo(b), ("labels",)).todo == ("labels",)
        assert state.plan(photo(a), ("labels",)).todo == ()


def test_mark_without_classify_records_the_file(db: StateDB, tmp_path: Path) -> None:
    p = photo(write(tmp_path / "a.jpg"))
    db.mark_done(p, "labels", model="m", source="ollama")
    assert db.classify(p) is FileStatus.UNCHANGED
    assert not db.needs(p, "labels")


def test_invalid_type_name(db: StateDB, tmp_path: Path) -> None:
    p = photo(write(tmp_path / "a.jpg"))
    with pytest.raises(ValueError, match="invalid model type"):
        db.needs(p, "a|b")


def test_non_utf8_names_round_trip(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    folder = os.fsencode(lib) + b"/\xff\xfe"
    os.makedirs(folder)
    fd = os.open(folder + b"/caf\xe9.jpg", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"data")
    os.close(fd)
    write(lib / "ok.jpg")
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        found = photos(lib)
        assert [state.classify(p) for p in found] == [FileStatus.NEW, FileStatus.NEW]
        for p in found:
            state.mark_done(p, "labels", model="m", source="ollama")
    with StateDB.open(path) as state:
        assert [state.plan(p, ("labels",)) for p in photos(lib)] == [
            Plan(FileStatus.UNCHANGED, ())
        ] * 2
        os.rename(folder + b"/caf\xe9.jpg", folder + b"/caf\xe8.jpg")
        statuses = [state.classify(p) for p in photos(lib)]
        assert sorted(s.value for s in statuses) == ["moved", "unchanged"]


def test_forget_reads_done_with_a_separate_select(tmp_path: Path) -> None:
    p = photo(write(tmp_path / "lib" / "a.jpg"))
    with StateDB.open(tmp_path / "state.sqlite3") as state:
        state.mark_done(p, "labels", model="m", source="ollama")
        state.mark_done(p, "caption", model="m", source="ollama")
        assert state.plan(p, ("labels", "caption")).todo == ()
        statements = traced(state)
        state.forget(p, ["caption"])
        # UPDATE ... RETURNING needs SQLite 3.35, newer than some NAS systems ship.
        assert not [s for s in statements if "RETURNING" in s.upper()], statements
        assert state.plan(p, ("labels", "caption")).todo == ("caption",)


# -- cost: statements, batching ---------------------------------------------------------------


def traced(state: StateDB) -> list[str]:
    statements: list[str] = []
    state.set_trace_callback(statements.append)
    return statements


def test_noop_rescan_runs_one_query_per_folder_and_no_writes(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for folder in range(4):
        for n in range(30):
            write(lib / f"f{folder}" / f"{n:03d}.jpg", bytes([folder, n]))
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        for p in photos(lib):
            state.classify(p)
    with StateDB.open(path) as state:
        statements = traced(state)
        for p in photos(lib):
            assert state.plan(p, ("labels", "caption")).status is FileStatus.UNCHANGED
            assert state.needs(p, "labels")
        state.set_trace_callback(None)
    assert len(statements) == 4  # one per folder, none per file
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements


def test_new_files_are_written_in_batches(tmp_path: Path) -> None:
    for n in range(250):
        write(tmp_path / "lib" / f"{n:03d}.jpg", n.to_bytes(2, "big"))
    with StateDB.open(tmp_path / "state.sqlite3", batch_size=100) as state:
        statements = traced(state)
        for p in photos(tmp_path / "lib"):
            state.classify(p)
        state.flush()
    commits = [s for s in statements if s.strip().upper() == "COMMIT"]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO FILES")]
    assert len(inserts) == 250
    assert len(commits) == 3  # 100 + 100 + 50


def test_classification_writes_are_committed_by_close(tmp_path: Path) -> None:
    write(tmp_path / "lib" / "a.jpg")
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        scan(state, tmp_path / "lib")
    with StateDB.open(path) as state:
        assert scan(state, tmp_path / "lib") == {"a.jpg": FileStatus.UNCHANGED}


# -- files that fail on their own -----------------------------------------------------------


def test_a_bad_file_is_told_until_it_changes(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    bad, good = write(lib / "bad.jpg", b"not a jpeg"), write(lib / "good.jpg", b"fine")
    other = write(lib / "other.jpg", b"also fine")
    types = ("labels", "caption")
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        for p in photos(lib):
            state.plan(p, types)
        state.mark_failed(photo(bad), "labels", "truncated")
        state.set_bad(photo(bad), "truncated")
        assert state.plan(photo(bad), types) == Plan(FileStatus.UNCHANGED, types, "truncated")
        assert state.plan(photo(good), types) == Plan(FileStatus.UNCHANGED, types, None)
        assert state.plan(photo(bad), types, force=True).bad == "truncated"
        assert state.needs(photo(bad), "labels")
    with StateDB.open(path) as state:  # loaded with the folder's one query
        statements = traced(state)
        plans = {p.name: state.plan(p, types) for p in photos(lib)}
        assert len(statements) == 1
        assert plans["bad.jpg"].bad == "truncated"
        assert plans["good.jpg"] is plans["other.jpg"]  # still shared
        assert plans["good.jpg"].bad is None
        os.rename(bad, lib / "renamed.jpg")  # same bytes: still bad
        moved = state.plan(photo(lib / "renamed.jpg"), types)
        assert (moved.status, moved.bad) == (FileStatus.MOVED, "truncated")
        write(lib / "renamed.jpg", b"a real photo now")  # changed: tried again
        assert state.plan(photo(lib / "renamed.jpg"), types) == Plan(FileStatus.CHANGED, types)
        state.set_bad(photo(other), "empty file")
        state.set_bad(photo(other), None)
        assert state.plan(photo(other), types).bad is None
    with StateDB.open(path) as state:
        assert {p.name: state.plan(p, types).bad for p in photos(lib)} == {
            "good.jpg": None, "other.jpg": None, "renamed.jpg": None,
        }


# -- housekeeping: forgetting deleted photos ---------------------------------------------


def walk(state: StateDB, *roots: Path) -> None:
    state.start_walk()
    for p in photos(*roots):
        state.plan(p, ("labels",))


def recorded(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT d.path, f.name FROM files f JOIN dirs d ON d.id = f.dir_id").fetchall()
    finally:
        conn.close()
    return {os.path.join(codec.from_db(d), codec.from_db(n)) for d, n in rows}


def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Folders `prune` lists from now on."""
    calls: list[str] = []
    real = os.listdir

    def listdir(folder: str) -> list[str]:
        calls.append(folder)
        return real(folder)

    monkeypatch.setattr(os, "listdir", listdir)
    return calls


@pytest.fixture
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    for folder in ("a", "b", "c/deep"):
        for n in range(3):
            write(lib / folder / f"{n}.jpg", f"{folder}{n}".encode() * 30)
    return lib


def test_prune_forgets_deleted_photos_and_folders(
    tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        walk(state, library)
        state.mark_done(photo(library / "a" / "0.jpg"), "labels", model="m", source="ollama")
        (library / "a" / "0.jpg").unlink()
        for name in ("0.jpg", "1.jpg", "2.jpg"):
            (library / "c" / "deep" / name).unlink()
        (library / "c" / "deep").rmdir()
        calls = listed(monkeypatch)
        walk(state, library)
        assert state.prune([library]) == 4
        # a (a photo less than recorded) and c/deep (gone); b is not listed.
        assert sorted(calls) == sorted(str(library / f) for f in ("a", "c/deep"))
    assert recorded(path) == {str(library / f) for f in ("a/1.jpg", "a/2.jpg", "b/0.jpg",
                                                           "b/1.jpg", "b/2.jpg")}
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 0  # cascaded
    assert conn.execute("SELECT count(*) FROM dirs").fetchone()[0] == 2  # c/deep went too
    conn.close()


def test_prune_after_a_no_op_rescan_lists_no_folder(
    tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        walk(state, library)
    with StateDB.open(path) as state:
        calls = listed(monkeypatch)
        statements = traced(state)
        walk(state, library)
        assert state.prune([library]) == 0
    assert calls == []
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements


def test_prune_keeps_moved_photos(tmp_path: Path, library: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        walk(state, library)
        state.mark_done(photo(library / "b" / "2.jpg"), "labels", model="m", source="ollama")
        (library / "b" / "2.jpg").rename(library / "a" / "moved.jpg")  # into a folder before
        walk(state, library)
        assert state.prune([library]) == 0
        assert not state.needs(photo(library / "a" / "moved.jpg"), "labels")
    assert str(library / "a" / "moved.jpg") in recorded(path)


def test_prune_forgets_photos_of_a_folder_the_walk_did_not_reach(
    tmp_path: Path, library: Path
) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        walk(state, library)
    for name in ("0.jpg", "1.jpg", "2.jpg"):  # every photo, the sidecars stay
        (library / "b" / name).unlink()
        write(library / "b" / f"{name}.xmp", b"<x:xmpmeta/>")
    with StateDB.open(path) as state:
        walk(state, library)
        assert state.prune([library]) == 3
    assert not [f for f in recorded(path) if "/b/" in f]


def test_prune_only_under_the_roots_and_not_after_discovery_errors(
    tmp_path: Path, library: Path
) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        walk(state, library)
    (library / "a" / "0.jpg").unlink()
    (library / "b" / "0.jpg").unlink()
    (library / "c" / "deep" / "0.jpg").unlink()
    with StateDB.open(path) as state:
        walk(state, library / "b")  # `vision run lib/b`: only b is forgotten in
        assert state.prune([library / "b"]) == 1
        walk(state, library)
        # c could not be listed (a discovery error): nothing forgotten in c and below it.
        assert state.prune([library], skip=[str(library / "c")]) == 1
        walk(state, library)
        # An entry of c/deep could not be read: the other photos of c/deep are not forgotten.
        assert state.prune([library], skip=[str(library / "c" / "deep" / "x.jpg")]) == 0
        walk(state, library)
        assert state.prune([library]) == 1
        walk(state, library / "a" / "1.jpg")  # a single photo: its folder was not walked
        (library / "a" / "2.jpg").unlink()
        assert state.prune([library / "a" / "1.jpg"]) == 0
    assert len(recorded(path)) == 6


def test_prune_keeps_everything_under_a_missing_or_empty_root(
    tmp_path: Path, library: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        walk(state, library)
        state.flush()
        before = recorded(path)
        library.rename(tmp_path / "away")
        assert state.prune([library]) == 0  # missing: not mounted
        library.mkdir()  # the mount point of an unmounted share: an empty folder
        walk(state, library)
        assert state.prune([library]) == 0
        assert recorded(path) == before
        assert sum("not forgetting" in r.getMessage() for r in caplog.records) == 2


def test_prune_keeps_a_share_inside_the_root_that_is_not_mounted(
    tmp_path: Path, library: Path
) -> None:
    top = tmp_path / "top"
    write(top / "local.jpg", b"local")
    library.rename(top / "share")
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        walk(state, top)
    # As if top/share had been another file system (a test cannot mount one).
    conn = sqlite3.connect(path)
    conn.execute("UPDATE files SET dev = dev + 1 WHERE name != 'local.jpg'")
    conn.commit()
    conn.close()
    before = recorded(path)
    (top / "share").rename(tmp_path / "away")
    (top / "share").mkdir()  # not mounted: its mount point is left, empty
    write(top / "share" / ".not-mounted", b"")  # ... or holding a marker
    with StateDB.open(path) as state:
        walk(state, top)
        assert state.prune([top]) == 0
        assert recorded(path) == before
        (top / "share" / ".not-mounted").unlink()
        (top / "share").rmdir()  # even without one
        walk(state, top)
        assert state.prune([top]) == 0
        assert recorded(path) == before
        # Deleted on the file system that holds them: forgotten.
        conn = sqlite3.connect(path)
        conn.execute("UPDATE files SET dev = dev - 1 WHERE name != 'local.jpg'")
        conn.commit()
        conn.close()
        walk(state, top)
        assert state.prune([top]) == len(before) - 1
    assert recorded(path) == {str(top / "local.jpg")}


def test_forget_missing(db: StateDB, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write(lib / "keep.jpg", b"k")
    gone = write(lib / "old" / "gone.jpg", b"g")
    scan(db, lib)
    db.mark_done(photo(gone), "labels", model="m", source="ollama")
    gone.unlink()
    gone.parent.rmdir()
    assert db.forget_missing([tmp_path / "not-mounted"]) == 0
    assert db.forget_missing([lib]) == 1
    assert db.forget_missing([lib]) == 0
    check = sqlite3.connect(db.path)
    assert check.execute("SELECT count(*) FROM results").fetchone()[0] == 0  # cascaded
    assert check.execute("SELECT count(*) FROM dirs").fetchone()[0] == 1  # old/ went too
    check.close()
    write(gone, b"g")  # back again: a new file, no stale results
    assert scan(db, lib) == {"keep.jpg": FileStatus.UNCHANGED, "old/gone.jpg": FileStatus.NEW}
    assert db.needs(photo(gone), "labels")


def test_state_belongs_to_the_opening_thread(db: StateDB, tmp_path: Path) -> None:
    p = photo(write(tmp_path / "a.jpg"))
    errors: list[BaseException] = []

    def other() -> None:
        try:
            db.classify(p)
        except (sqlite3.Error, StateError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)


def test_second_connection_reads_while_first_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    p = photo(write(tmp_path / "lib" / "a.jpg"))
    with StateDB.open(path) as writer, StateDB.open(path) as reader:
        writer.classify(p)  # uncommitted batch: the write lock is held
        assert reader.needs(p, "labels")
        writer.mark_done(p, "labels", model="m", source="ollama")
        assert not reader.needs(p, "labels")


# -- resume after kill -9 -------------------------------------------------------------------

CHILD = """
import sys
from xmpvision.discover import Photo, discover
from xmpvision.state import StateDB

with StateDB.open(sys.argv[1]) as state:
    for p in discover([sys.argv[2]]):
        if not isinstance(p, Photo) or not state.needs(p, "labels"):
            continue
        state.classify(p)
        state.mark_done(p, "labels", model="m", source="ollama")
        print(p.path, flush=True)
"""


def test_resume_after_sigkill(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for n in range(3000):
        write(lib / f"d{n // 100:02d}" / f"{n:04d}.jpg", n.to_bytes(2, "big"))
    path = tmp_path / "state.sqlite3"
    script = write(tmp_path / "child.py", textwrap.dedent(CHILD).encode())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(script), str(path), str(lib)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    reported = [child.stdout.readline().strip() for _ in range(200)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done_count = conn.execute("SELECT count(*) FROM results WHERE status = 'done'").fetchone()[0]
    conn.close()
    assert 200 <= done_count < 3000  # killed mid-run, nothing reported was lost

    with StateDB.open(path) as state:
        todo = [p.path for p in photos(lib) if state.plan(p, ("labels",)).todo]
    assert set(reported).isdisjoint(todo)  # finished files are not redone
    assert len(todo) == 3000 - done_count


def test_fallback_answers_are_read_per_folder_and_cleared_by_a_better_answer(
        tmp_path: Path) -> None:
    a = photo(write(tmp_path / "lib" / "a" / "1.jpg", b"one"))
    b = photo(write(tmp_path / "lib" / "b" / "2.jpg", b"two"))
    c = photo(write(tmp_path / "lib" / "a" / "3.jpg", b"three"))
    with StateDB.open(tmp_path / "state.db") as state:
        assert not state.fallback_answers()
        for p in (a, b, c):
            state.classify(p)
        state.mark_done(a, "labels", model="tensorflow:nasnet", source="image",
                        fallback=["ollama:gemma4:latest"])
        state.mark_done(a, "caption", model="ollama:gemma4:latest", source="ollama")
        state.mark_done(b, "labels", model="ollama:gemma4:latest", source="ollama")
        state.mark_failed(c, "labels", "every model failed")
        answers = state.fallback_answers()
        statements: list[str] = []
        state.set_trace_callback(statements.append)
        assert answers and answers.get(b) is None
        assert statements == []  # a folder without fallback answers costs no query
        assert answers.get(a) == {"labels": "tensorflow:nasnet"}
        assert answers.get(c) is None
        # Answered by the better model now: nothing is left to upgrade.
        state.mark_done(a, "labels", model="ollama:gemma4:latest", source="ollama")
        state.set_trace_callback(None)
        assert not state.fallback_answers()
