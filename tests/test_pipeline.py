"""The Pipeline itself (no CLI): failure isolation per photo and per model type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.library_builder import (
    as_list,
    exiftool_json,
    sidecar_of,
    state_results,
    write_config,
    write_photos,
)
from tests.ollama_server import OllamaServer
from xmpvision.chain.analyzer import SCAN_CONTEXTS, build_analyzer
from xmpvision.config import SUPPORTED_TYPES, load_config
from xmpvision.pipeline import Pipeline, RunOptions, RunResult
from xmpvision.report import PhotoReport
from xmpvision.state import StateDB


class Collect:
    def __init__(self) -> None:
        self.reports: dict[str, PhotoReport] = {}
        self.unchanged_paths: list[str] = []
        self.notices: list[str] = []

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def photo(self, report: PhotoReport) -> None:
        self.reports[str(report.path)] = report

    def unchanged(self, path: str) -> None:
        self.unchanged_paths.append(path)


@pytest.fixture(autouse=True)
def _no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    with OllamaServer(models=["gemma3:latest"], parallel=2) as emulator:
        yield emulator


def run(tmp_path: Path, config: Path, *roots: Path) -> tuple[RunResult, Collect]:
    analyzer = build_analyzer(load_config(config).config, SUPPORTED_TYPES, SCAN_CONTEXTS)
    collect = Collect()
    try:
        with StateDB.open(tmp_path / "state.db") as state:
            result = Pipeline(analyzer, state, RunOptions(), collect).run(roots)
    finally:
        analyzer.close()
    return result, collect


def test_a_type_no_model_can_serve_fails_its_photos_and_the_rest_goes_on(
    tmp_path: Path, server: OllamaServer
) -> None:
    """Caption model not pulled. The first photo needing work needs only the caption (its
    labels are done): it must fail with the reason, and the photos after it still get labels."""
    first, *others = write_photos(tmp_path / "photos", 4, per_folder=4)
    caption = f'- Type: caption\n  Model: notpulled\n  Service: {{Uri: "{server.url}"}}\n'
    config = write_config(tmp_path / "vision.yml", server.url, types=("labels",), extra=caption)
    result, collect = run(tmp_path, config, first)  # labels done, caption failed
    assert collect.reports[str(first)].status == "failed"
    assert state_results(tmp_path / "state.db")[str(first)] == {"labels": "done",
                                                                "caption": "failed"}

    result, collect = run(tmp_path, config, tmp_path / "photos")
    assert set(result.unusable) == {"caption"}
    assert "ollama:notpulled:latest" in result.unusable["caption"]
    assert any('model "notpulled:latest" not found' in n and "ollama pull" in n
               for n in collect.notices), collect.notices
    assert not result.ok
    assert sorted(collect.reports) == sorted(str(p) for p in [first, *others])
    for report in collect.reports.values():
        assert report.status == "failed"
        assert report.error is not None and "notpulled" in report.error
    state = state_results(tmp_path / "state.db")
    for photo in others:
        assert state[str(photo)] == {"labels": "done", "caption": "failed"}
    for record in exiftool_json([sidecar_of(p) for p in others]):
        assert as_list(record["Subject"]) == ["Dog", "Beach"]
    shows = [r for r in server.requests if r.path == "/api/show"
             and r.body["model"] == "notpulled:latest"]
    assert len(shows) == 2  # once per run, not once per photo


def test_corrupt_sidecar_is_reported_untouched_and_retried(tmp_path: Path,
                                                           server: OllamaServer) -> None:
    bad, good = write_photos(tmp_path / "photos", 2, per_folder=2)
    corrupt = b"<x:xmpmeta><rdf:RDF>not closed"
    Path(sidecar_of(bad)).write_bytes(corrupt)
    config = write_config(tmp_path / "vision.yml", server.url)
    result, collect = run(tmp_path, config, tmp_path / "photos")
    report = collect.reports[str(bad)]
    assert report.status == "failed" and report.error is not None
    assert str(sidecar_of(bad)) in report.error
    assert collect.reports[str(good)].status == "done"
    assert Path(sidecar_of(bad)).read_bytes() == corrupt
    assert result.summary.counts["failed"] == 1 and result.summary.counts["done"] == 1
    # Not recorded as done: the next run (sidecar repaired) does it.
    assert "done" not in state_results(tmp_path / "state.db").get(str(bad), {}).values()
    Path(sidecar_of(bad)).unlink()
    result, collect = run(tmp_path, config, tmp_path / "photos")
    assert collect.reports[str(bad)].status == "done"
    assert collect.unchanged_paths == [str(good)]
