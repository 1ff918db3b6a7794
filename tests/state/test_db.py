"""State database: classification, per-type status, batching, moves, resume after kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from xmpvision.discover import Photo, discover
from xmpvision.errors import StateError
from xmpvision.state import FileStatus, Plan, StateDB, codec, default_state_path, schema
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


def test_open_rejects_corrupt_and_newer_databases(tmp_path: Path) -> None:
    junk = write(tmp_path / "junk.sqlite3", b"this is not a database" * 100)
    with pytest.raises(StateError, match=r"error opening state database .*junk\.sqlite3: "):
        StateDB.open(junk)
    newer = tmp_path / "newer.sqlite3"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(StateError, match="schema version 99 is newer"):
        StateDB.open(newer)


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


# -- housekeeping, threads ------------------------------------------------------------------


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
        except BaseException as exc:
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
