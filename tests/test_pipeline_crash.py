"""`xmpvision scan` stopped from outside: SIGTERM (a clean stop) and SIGKILL (a crash) at
random moments, then a rerun; and stopped by its state database: the disk holding it full, or
the file damaged. The library must end complete, consistent and without duplicates."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from tests.library_builder import (
    cli_env,
    parse_ndjson,
    run_xmpvision,
    sidecar_of,
    state_results,
    write_config,
    write_photos,
)
from tests.ollama_server import DEFAULT_CAPTION, DEFAULT_KEYWORD_PATHS, OllamaServer
from xmpvision.cli import app
from xmpvision.state import StateDB

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "xmpvision": "https://xmpvision.org/ns/1.0/",
}


def start_scan(tmp_path: Path, root: Path, config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "xmpvision", "scan", str(root), "--json",
         "--state", str(tmp_path / "state.db"), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )


def wait_for_done(server: OllamaServer, requests: int, timeout: float = 20) -> None:
    """Until the emulator has answered `requests` generate requests (no timing assertions:
    this only decides when to send the signal)."""
    deadline = time.monotonic() + timeout
    while len(server.generate_requests()) < requests:
        assert time.monotonic() < deadline, "the scan made no progress"
        time.sleep(0.01)


def check_sidecar(path: str) -> None:
    """Parses, holds our two keywords once each in every keyword property, and the caption."""
    tree = etree.parse(path)
    for prop, wanted in (("dc:subject", ["Dog", "Beach"]),
                         ("lr:hierarchicalSubject", DEFAULT_KEYWORD_PATHS)):
        items = tree.xpath(f"//{prop}/rdf:Bag/rdf:li/text()", namespaces=NS)
        assert items == wanted, (path, prop, items)
    names = tree.xpath("//xmpvision:Keywords/rdf:Bag/rdf:li/xmpvision:name/text()",
                       namespaces=NS)
    assert names == ["Dog", "Beach"], (path, names)
    captions = tree.xpath("//dc:description/rdf:Alt/rdf:li/text()", namespaces=NS)
    assert captions == [DEFAULT_CAPTION], (path, captions)


def check_library(tmp_path: Path, photos: list[Path]) -> None:
    root = tmp_path / "photos"
    files = [p for p in root.rglob("*") if p.is_file()]
    leftovers = [p for p in files if p.name.startswith(".")]
    assert leftovers == [], "temp files left behind"
    sidecars = sorted(str(p) for p in files if p.suffix.lower() == ".xmp")
    assert sidecars == sorted(str(sidecar_of(p)) for p in photos)  # exactly one per photo
    for sidecar in sidecars:
        check_sidecar(sidecar)
    conn = sqlite3.connect(tmp_path / "state.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == len(photos)
    finally:
        conn.close()
    state = state_results(tmp_path / "state.db")
    assert state == {str(p): {"labels": "done", "caption": "done"} for p in photos}


def test_sigterm_finishes_the_photos_in_flight(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 30, per_folder=10)
    with OllamaServer(models=["gemma3:latest"], parallel=2, latency=0.3) as server:
        config = write_config(tmp_path / "vision.yml", server.url, parallel=2)
        process = start_scan(tmp_path, tmp_path / "photos", config)
        try:
            wait_for_done(server, 6)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        first = parse_ndjson(stdout)
        done_first = first.paths("done")
        assert first.summary["done"] == len(done_first) and 0 < len(done_first) < len(photos)
        assert first.summary["failed"] == 0
        # Every photo reported done is complete on disk and in the state.
        for path in done_first:
            check_sidecar(str(sidecar_of(path)))
        state = state_results(tmp_path / "state.db")
        assert {p for p, types in state.items() if types == {"labels": "done", "caption": "done"}
                } == set(done_first)

        server.latency = 0.0
        rerun = run_xmpvision("scan", tmp_path / "photos", "--json", "--state",
                              tmp_path / "state.db", "--config", config)
    assert rerun.returncode == 0, rerun.stderr
    second = parse_ndjson(rerun.stdout)
    done_second = second.paths("done")
    assert set(done_first).isdisjoint(done_second)
    assert sorted(done_first + done_second) == sorted(str(p) for p in photos)
    assert second.summary["unchanged"] == len(done_first)
    check_library(tmp_path, photos)


def test_sigkill_at_random_moments_then_a_rerun_completes(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 200, per_folder=40)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    reported: Counter[str] = Counter()
    with OllamaServer(models=["gemma3:latest"], parallel=4, latency=0.03) as server:
        config = write_config(tmp_path / "vision.yml", server.url, parallel=4)
        for kill in range(5):
            process = start_scan(tmp_path, tmp_path / "photos", config)
            try:
                # Past the start-up (imports, /api/show) at least once, then at random.
                wait_for_done(server, len(server.generate_requests()) + 1 + rng.randrange(30))
                time.sleep(rng.uniform(0, 0.05))
            finally:
                process.kill()
                stdout, _ = process.communicate(timeout=30)
            assert process.returncode == -signal.SIGKILL, (seed, kill)
            reported.update(parse_ndjson(stdout, allow_partial_tail=True).paths("done"))
        final = run_xmpvision("scan", tmp_path / "photos", "--json", "--state",
                              tmp_path / "state.db", "--config", config)
    assert final.returncode == 0, (seed, final.stderr)
    out = parse_ndjson(final.stdout)
    reported.update(out.paths("done"))
    assert out.summary["failed"] == 0, seed
    # A photo reported done was recorded before it was reported: never done twice.
    assert [p for p, n in reported.items() if n > 1] == [], seed
    assert out.summary["done"] + out.summary["unchanged"] == len(photos), seed
    check_library(tmp_path, photos)


def test_state_disk_full_mid_run_stops_cleanly_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = write_photos(tmp_path / "photos", 120, per_folder=40)
    state = tmp_path / "state.db"
    prepare = StateDB._prepare

    def small_disk(conn: sqlite3.Connection, target: str, **options: bool) -> None:
        prepare(conn, target, **options)
        # No page more than the fresh database has: full after a few dozen photos.
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(StateDB, "_prepare", staticmethod(small_disk))
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
    runner = CliRunner()
    with OllamaServer(models=["gemma3:latest"], parallel=4) as server:
        config = write_config(tmp_path / "vision.yml", server.url, parallel=4)
        args = ["scan", str(tmp_path / "photos"), "--json", "--state", str(state),
                "--config", str(config)]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.stderr and isinstance(result.exception, SystemExit)
        assert (f"xmpvision: error writing state database {state}: database or disk is full; "
                "free space on the disk holding it") in result.stderr \
            or (f"xmpvision: error updating state database {state}: database or disk is full; "
                "free space on the disk holding it") in result.stderr, result.stderr
        written = [p for p in photos if os.path.exists(sidecar_of(p))]
        assert 0 < len(written) < len(photos)
        for photo in written:  # what was written is whole
            check_sidecar(str(sidecar_of(photo)))
        reported = parse_ndjson(result.stdout, allow_partial_tail=True).paths("done")
        assert set(reported) <= {str(p) for p in written}

        monkeypatch.undo()  # space again: the next run completes the library
        monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
        again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    out = parse_ndjson(again.stdout)
    assert set(reported).isdisjoint(out.paths("done"))
    check_library(tmp_path, photos)


def test_a_damaged_state_database_is_moved_aside_and_the_scan_works(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 300, per_folder=100)
    state = tmp_path / "state.db"
    with OllamaServer(models=["gemma3:latest"], parallel=4) as server:
        config = write_config(tmp_path / "vision.yml", server.url, parallel=4)
        args: list[str | os.PathLike[str]] = ["scan", tmp_path / "photos", "--json", "--state",
                                              state, "--config", config]
        assert run_xmpvision(*args, timeout=120).returncode == 0
        sidecars = {p: Path(sidecar_of(p)).read_bytes() for p in photos}
        time.sleep(0.05)  # later than the clean close, as damage comes outside a test
        data = bytearray(state.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 3000] = os.urandom(3000)
        state.write_bytes(bytes(data))

        result = run_xmpvision(*args, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # The damaged database, beside its write-ahead log if it had one.
    (aside,) = [p for p in tmp_path.glob("state.db.damaged-*")
                if not p.name.endswith(("-wal", "-shm"))]
    assert f"state database {state} is damaged" in result.stderr
    assert f"moved it to {aside}" in result.stderr
    out = parse_ndjson(result.stdout)
    # Checked again with the models; the sidecars already hold their values: nothing new.
    assert out.summary["failed"] == 0 and out.summary["done"] == 0
    assert out.summary["unchanged"] == len(photos)
    assert {p: Path(sidecar_of(p)).read_bytes() for p in photos} == sidecars
    check_library(tmp_path, photos)
