"""`vision run` (the manual context) and `vision reset` through the real CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.library_builder import (
    as_list,
    exiftool_json,
    parse_ndjson,
    sidecar_of,
    state_results,
    write,
    write_config,
    write_photos,
)
from tests.ollama_server import DEFAULT_CAPTION, OllamaServer
from xmpvision.cli import app

runner = CliRunner()


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    with OllamaServer(models=["gemma3:latest"], parallel=2) as emulator:
        yield emulator


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return write_photos(tmp_path / "photos", 4, per_folder=2)


def vision(tmp_path: Path, server: OllamaServer, *args: str) -> Result:
    config = tmp_path / "vision.yml"
    if not config.exists():
        write_config(config, server.url, parallel=2)
    return runner.invoke(app, ["vision", *args, "--json", "--state", str(tmp_path / "state.db"),
                               "--config", str(config)])


def run_all(tmp_path: Path, server: OllamaServer, *args: str) -> Result:
    return vision(tmp_path, server, "run", "-m", "labels,caption", str(tmp_path / "photos"), *args)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` (hidden ones too): bytes and mtime."""
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_force_redoes_done_photos(tmp_path: Path, server: OllamaServer,
                                      photos: list[Path]) -> None:
    first = run_all(tmp_path, server)
    assert first.exit_code == 0, first.output
    assert parse_ndjson(first.stdout).summary["done"] == len(photos)
    server.clear()
    again = run_all(tmp_path, server)
    assert parse_ndjson(again.stdout).summary["unchanged"] == len(photos)
    assert server.generate_requests() == []

    server.respond("A cat sleeps on a sofa.", kind="caption")
    forced = run_all(tmp_path, server, "--force")
    assert forced.exit_code == 0, forced.output
    out = parse_ndjson(forced.stdout)
    assert out.summary["done"] == len(photos)
    assert len(server.generate_requests()) == 2 * len(photos)
    for record in exiftool_json([sidecar_of(p) for p in photos]):
        assert record["Description"] == "A cat sleeps on a sofa."  # ours, replaced
        assert as_list(record["Subject"]) == ["Dog", "Beach"]  # no duplicates


def test_run_source_manual_is_recorded_in_provenance(tmp_path: Path, server: OllamaServer,
                                                      photos: list[Path]) -> None:
    result = run_all(tmp_path, server, "--source", "manual")
    assert result.exit_code == 0, result.output
    out = parse_ndjson(result.stdout)
    assert {x["source"] for r in out.records for x in r["labels"]} == {"manual"}
    assert {r["caption_source"] for r in out.records} == {"manual"}
    for record in exiftool_json([sidecar_of(p) for p in photos]):
        assert [k["Source"] for k in as_list(record["Keywords"])] == ["manual", "manual"]
        assert record["Caption"]["Source"] == "manual"


def test_run_dry_run_writes_nothing(tmp_path: Path, server: OllamaServer,
                                    photos: list[Path]) -> None:
    # One photo already done, so the dry run has an existing sidecar to leave alone too.
    assert vision(tmp_path, server, "run", "-m", "labels,caption", str(photos[0])).exit_code == 0
    before = snapshot(tmp_path / "photos")
    server.respond("Something else entirely.", kind="caption")
    result = run_all(tmp_path, server, "--dry-run", "--force")
    assert result.exit_code == 0, result.output
    out = parse_ndjson(result.stdout)
    assert len(out.records) == len(photos)
    for record in out.records:
        assert "planned" in record, record
        assert record["status"] == "unchanged", record  # nothing was written: not "done"
    assert out.summary["done"] == 0
    planned = {r["path"]: r["planned"] for r in out.records}
    assert planned[str(photos[1])]["created"] is True
    assert planned[str(photos[1])]["keywords_added"] == ["Dog", "Beach"]
    assert planned[str(photos[0])]["created"] is False
    assert planned[str(photos[0])]["caption_added"] == "Something else entirely."
    assert snapshot(tmp_path / "photos") == before  # no bytes, mtimes or new files changed
    # Nothing was recorded either: a real run still does the three new photos.
    server.clear()
    real = run_all(tmp_path, server)
    assert sorted(parse_ndjson(real.stdout).paths("done")) == sorted(str(p) for p in photos[1:])


def test_run_count_processes_that_many_photos(tmp_path: Path, server: OllamaServer,
                                              photos: list[Path]) -> None:
    result = run_all(tmp_path, server, "--count", "2")
    assert result.exit_code == 0, result.output
    out = parse_ndjson(result.stdout)
    assert out.summary["done"] == 2 and len(out.paths("done")) == 2
    assert len(server.generate_requests()) == 4
    assert sum(os.path.exists(sidecar_of(p)) for p in photos) == 2
    rest = run_all(tmp_path, server, "--count", "2")
    assert sorted(parse_ndjson(rest.stdout).paths("done") + out.paths("done")) == sorted(
        str(p) for p in photos)


def test_run_skips_a_bad_photo_unless_retry_failed(tmp_path: Path, server: OllamaServer,
                                                   photos: list[Path]) -> None:
    empty = write(photos[0].parent / "empty.jpg", b"")
    first = run_all(tmp_path, server)
    assert first.exit_code == 1, first.output
    again = run_all(tmp_path, server)
    assert again.exit_code == 0, again.output
    out = parse_ndjson(again.stdout)
    assert out.paths("skipped") == [str(empty)] and out.summary["skipped"] == 1
    assert "empty file" in out.by_status("skipped")[0]["error"]
    retried = run_all(tmp_path, server, "--retry-failed")
    assert retried.exit_code == 1, retried.output
    assert parse_ndjson(retried.stdout).paths("failed") == [str(empty)]


def test_run_over_a_folder_forgets_deleted_photos_only_there(
    tmp_path: Path, server: OllamaServer, photos: list[Path]
) -> None:
    assert run_all(tmp_path, server).exit_code == 0
    photos[0].unlink()  # roll00
    photos[2].unlink()  # roll01
    result = vision(tmp_path, server, "run", "-m", "labels,caption", str(photos[3].parent))
    assert result.exit_code == 0, result.output
    assert set(state_results(tmp_path / "state.db")) == {str(p) for p in photos[:2] + photos[3:]}
    assert run_all(tmp_path, server).exit_code == 0
    assert set(state_results(tmp_path / "state.db")) == {str(photos[1]), str(photos[3])}


def _exiftool(*args: str | os.PathLike[str]) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *(os.fspath(a) for a in args)],
                   check=True)


def test_reset_caption_removes_only_ours(tmp_path: Path, server: OllamaServer,
                                         photos: list[Path]) -> None:
    mine, theirs = photos[0], photos[1]
    # A caption the user wrote before any run, in a sidecar of their own.
    _exiftool("-o", sidecar_of(theirs), "-XMP-dc:Description=My own words", mine)
    assert run_all(tmp_path, server).exit_code == 0
    # ... and a keyword the user added after the run.
    _exiftool("-XMP-dc:Subject+=Holiday", sidecar_of(mine))
    (before_theirs,) = exiftool_json([sidecar_of(theirs)])
    assert before_theirs["Description"] == "My own words"  # never overwritten by the run

    # A dry run reports what it would remove, writes nothing and claims nothing done.
    dry = vision(tmp_path, server, "reset", "-m", "caption", "--dry-run", "--json",
                 str(tmp_path / "photos"))
    assert dry.exit_code == 0, dry.output
    out = parse_ndjson(dry.stdout)
    assert out.summary["done"] == 0 and {r["status"] for r in out.records} == {"unchanged"}
    assert any(r["planned"]["caption_removed"] for r in out.records if "planned" in r)
    (still,) = exiftool_json([sidecar_of(mine)])
    assert still["Description"] == DEFAULT_CAPTION

    result = vision(tmp_path, server, "reset", "-m", "caption", "--yes", str(tmp_path / "photos"))
    assert result.exit_code == 0, result.output
    ours, user = exiftool_json([sidecar_of(mine), sidecar_of(theirs)])
    assert "Description" not in ours and "Caption" not in ours
    assert as_list(ours["Subject"]) == ["Dog", "Beach", "Holiday"]  # keywords untouched
    assert user["Description"] == "My own words"
    assert as_list(user["Subject"]) == ["Dog", "Beach"]
    for photo in photos[2:]:
        (record,) = exiftool_json([sidecar_of(photo)])
        assert "Description" not in record and as_list(record["Subject"]) == ["Dog", "Beach"]

    # The state forgot the captions: the next run writes ours again, and only captions.
    server.clear()
    again = run_all(tmp_path, server)
    assert again.exit_code == 0, again.output
    assert {r.kind for r in server.generate_requests()} == {"caption"}
    ours, user = exiftool_json([sidecar_of(mine), sidecar_of(theirs)])
    assert ours["Description"] == DEFAULT_CAPTION and user["Description"] == "My own words"


def test_reset_without_yes_and_without_a_tty_is_refused(tmp_path: Path, server: OllamaServer,
                                                        photos: list[Path]) -> None:
    assert run_all(tmp_path, server).exit_code == 0
    before = snapshot(tmp_path / "photos")
    result = vision(tmp_path, server, "reset", "-m", "caption", str(tmp_path / "photos"))
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert snapshot(tmp_path / "photos") == before
