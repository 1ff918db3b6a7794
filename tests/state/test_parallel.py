"""What `Parallel: auto` found per service, kept in the state database: recorded by runs, read
by `vision ls` and `doctor` without writing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from xmpvision.errors import StateError
from xmpvision.state import FoundParallel, StateDB, read_found, schema

A = "ollama http://gpu-a:11434"
B = "ollama http://gpu-b:11434"


def files_in(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_findings_round_trip_and_a_service_not_named_keeps_its_own(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        assert state.parallel_found() == {}
        state.keep_parallel({A: FoundParallel(4, 8, 1000.0), B: FoundParallel(1, 8, 1000.0)})
    with StateDB.open(path) as state:
        state.keep_parallel({A: FoundParallel(3, 6, 2000.0)})  # a later run asked only A
        assert state.parallel_found() == {A: FoundParallel(3, 6, 2000.0),
                                          B: FoundParallel(1, 8, 1000.0)}
    assert read_found(path) == {A: FoundParallel(3, 6, 2000.0), B: FoundParallel(1, 8, 1000.0)}


def version_4(path: Path) -> None:
    """A database as xmpvision wrote it before findings were kept (schema version 4)."""
    conn = sqlite3.connect(path)
    for statement in schema.CREATE:
        if "parallel_found" not in statement:
            conn.execute(statement)
    conn.execute("INSERT INTO dirs(id, path) VALUES (1, '/lib')")
    conn.execute("INSERT INTO files VALUES (1, 1, 'a.jpg', 1, 1, 1, 1, NULL, 'jpeg', 0, "
                 "'|labels|', NULL)")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()


def test_a_version_4_database_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    version_4(path)
    assert read_found(path) == {}  # no table yet: nothing found, no error
    with StateDB.open(path) as state:
        assert state.parallel_found() == {}
        state.keep_parallel({A: FoundParallel(2, 8, 1000.0)})
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 5
    assert check.execute("SELECT name, done FROM files").fetchall() == [("a.jpg", "|labels|")]
    check.close()
    assert read_found(path) == {A: FoundParallel(2, 8, 1000.0)}


def test_a_newer_database_is_still_refused_and_only_read_for_findings(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    sqlite3.connect(path).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(StateError, match="schema version 99 is newer"):
        StateDB.open(path)
    assert read_found(path) == {}


def test_reading_creates_nothing_without_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "fresh" / "state.sqlite3"
    assert read_found(missing) == {}
    assert not (tmp_path / "fresh").exists()


def test_a_file_that_is_not_a_database_reads_as_nothing_found(tmp_path: Path) -> None:
    junk = tmp_path / "state.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    assert read_found(junk) == {}
    assert files_in(tmp_path) == ["state.sqlite3"]  # not moved aside, nothing beside it
    assert junk.read_bytes() == b"this is not a database" * 100


def test_reading_leaves_no_file_beside_the_database(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        state.keep_parallel({A: FoundParallel(4, 8, 1000.0)})
    before = files_in(tmp_path)
    assert read_found(path) == {A: FoundParallel(4, 8, 1000.0)}
    assert files_in(tmp_path) == before


def test_reading_while_a_run_writes_sees_what_it_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB.open(path) as state:
        state.keep_parallel({A: FoundParallel(4, 8, 1000.0)})  # in its write-ahead log
        assert read_found(path) == {A: FoundParallel(4, 8, 1000.0)}
