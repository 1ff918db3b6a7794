"""The Pipeline itself (no CLI): failure isolation per photo and per model type."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from PIL import Image

from tests.library_builder import (
    as_list,
    exiftool_json,
    jpeg_bytes,
    sidecar_of,
    state_results,
    write,
    write_config,
    write_photos,
)
from tests.ollama_server import DEFAULT_CAPTION, OllamaServer, Reply
from xmpvision.chain.analyzer import SCAN_CONTEXTS, build_analyzer
from xmpvision.config import SUPPORTED_TYPES, load_config
from xmpvision.config.defaults import AUTO_PARALLEL_MAX
from xmpvision.discover import Photo
from xmpvision.errors import StateError
from xmpvision.pipeline import Pipeline, RunOptions, RunResult
from xmpvision.report import PhotoReport
from xmpvision.state import FoundParallel, StateDB


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


def run(tmp_path: Path, config: Path, *roots: Path, options: RunOptions | None = None,
        stop: threading.Event | None = None) -> tuple[RunResult, Collect]:
    analyzer = build_analyzer(load_config(config).config, SUPPORTED_TYPES, SCAN_CONTEXTS)
    collect = Collect()
    try:
        with StateDB.open(tmp_path / "state.db") as state:
            result = Pipeline(analyzer, state, options or RunOptions(), collect,
                              stop).run(roots)
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


def test_a_photo_bad_in_itself_is_skipped_until_it_changes(tmp_path: Path,
                                                          server: OllamaServer) -> None:
    good = write_photos(tmp_path / "photos", 2, per_folder=3)
    bad = write(tmp_path / "photos" / "roll00" / "truncated.jpg", jpeg_bytes((640, 480))[:700])
    config = write_config(tmp_path / "vision.yml", server.url)
    result, collect = run(tmp_path, config, tmp_path / "photos")
    assert collect.reports[str(bad)].status == "failed" and not result.ok
    server.clear()

    result, collect = run(tmp_path, config, tmp_path / "photos")
    report = collect.reports[str(bad)]
    assert report.status == "skipped", report
    assert report.error is not None and "truncated" in report.error
    assert "--retry-failed" in report.error
    assert result.ok and result.summary.counts["skipped"] == 1
    assert result.summary.counts["failed"] == 0
    assert sorted(collect.unchanged_paths) == sorted(map(str, good))
    assert server.generate_requests() == []

    result, collect = run(tmp_path, config, tmp_path / "photos",
                          options=RunOptions(retry_failed=True))
    assert collect.reports[str(bad)].status == "failed" and not result.ok
    assert state_results(tmp_path / "state.db")[str(bad)] == {"labels": "failed",
                                                              "caption": "failed"}

    bad.write_bytes(jpeg_bytes())  # repaired: tried again, and done
    result, collect = run(tmp_path, config, tmp_path / "photos")
    assert collect.reports[str(bad)].status == "done" and result.ok
    result, collect = run(tmp_path, config, tmp_path / "photos")
    assert collect.unchanged_paths == sorted(map(str, [*good, bad]))


def test_a_failure_that_is_not_the_file_s_own_is_retried(
    tmp_path: Path, server: OllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error of a share (or a permission, a vanished file) can go away while the file
    stays as it is: such a photo is tried again on every run, as a model failure is."""
    (photo,) = write_photos(tmp_path / "photos", 1)

    def unreadable(*args: object, **kwargs: object) -> NoReturn:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Image, "open", unreadable)
    config = write_config(tmp_path / "vision.yml", server.url)
    for _ in range(2):
        result, collect = run(tmp_path, config, tmp_path / "photos")
        report = collect.reports[str(photo)]
        assert report.status == "failed" and "Input/output error" in str(report.error)
    monkeypatch.undo()
    result, collect = run(tmp_path, config, tmp_path / "photos")
    assert collect.reports[str(photo)].status == "done" and result.ok


def test_a_state_error_mid_run_finishes_the_photos_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = write_photos(tmp_path / "photos", 16, per_folder=16)
    with OllamaServer(models=["gemma3:latest"], parallel=2, latency=0.1) as server:
        config = write_config(tmp_path / "vision.yml", server.url, parallel=2)
        analyzer = build_analyzer(load_config(config).config, SUPPORTED_TYPES, SCAN_CONTEXTS)
        try:
            with StateDB.open(tmp_path / "state.db") as state:

                def full(photo: Photo, type_: str, *, model: str, source: str,
                         fallback: Iterable[str] = ()) -> None:
                    raise StateError(state.path, "database or disk is full", action="writing")

                monkeypatch.setattr(state, "mark_done", full)
                with pytest.raises(StateError, match="disk is full"):
                    Pipeline(analyzer, state, RunOptions(), Collect()).run([tmp_path / "photos"])
        finally:
            analyzer.close()
        requests = len(server.generate_requests())
    written = [p for p in photos if os.path.exists(sidecar_of(p))]
    assert 2 <= len(written) < len(photos)  # several were in flight; the walk stopped
    assert requests == 2 * len(written)  # every photo analysed got its sidecar
    for record in exiftool_json([sidecar_of(p) for p in written]):
        assert as_list(record["Subject"]) == ["Dog", "Beach"]
        assert record["Description"] == DEFAULT_CAPTION


def test_deleted_photos_are_forgotten_after_a_complete_run_only(
    tmp_path: Path, server: OllamaServer
) -> None:
    photos = write_photos(tmp_path / "photos", 6, per_folder=3)
    config = write_config(tmp_path / "vision.yml", server.url)
    assert run(tmp_path, config, tmp_path / "photos")[0].ok
    gone = [photos[0], photos[4]]
    for photo in gone:
        photo.unlink()
    kept = {str(p) for p in photos if p not in gone}

    stop = threading.Event()
    stop.set()  # stopped (Ctrl-C) before the walk ended: nothing is forgotten
    run(tmp_path, config, tmp_path / "photos", stop=stop)
    assert set(state_results(tmp_path / "state.db")) == {str(p) for p in photos}
    write(tmp_path / "photos" / "roll00" / "new.jpg", jpeg_bytes())  # needs work: counted
    run(tmp_path, config, tmp_path / "photos", options=RunOptions(count=0))  # --count limit
    assert set(state_results(tmp_path / "state.db")) == {str(p) for p in photos}
    run(tmp_path, config, tmp_path / "photos", options=RunOptions(dry_run=True))
    assert set(state_results(tmp_path / "state.db")) == {str(p) for p in photos}

    result, _ = run(tmp_path, config, tmp_path / "photos")
    assert result.ok
    assert set(state_results(tmp_path / "state.db")) == kept | {
        str(tmp_path / "photos" / "roll00" / "new.jpg")}


def test_the_first_photo_is_decoded_while_the_models_are_checked_and_alone(
        tmp_path: Path, server: OllamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first request waits for both its photo's decode and the readiness check: they run
    at once. The first decode has the CPUs to itself; the others start after it."""
    from xmpvision.chain.analyzer import Analyzer, ChainCheck
    from xmpvision.prepare.images import PhotoImage

    write_photos(tmp_path / "photos", 4)
    config = write_config(tmp_path / "vision.yml", server.url, types=("caption",))
    decoding = threading.Event()
    seen_by_check: list[bool] = []
    events: list[tuple[str, str]] = []
    check_chain, prefetch = Analyzer.check_chain, Analyzer.prefetch

    def slow_check(self: Analyzer, model_type: str) -> ChainCheck:
        seen_by_check.append(decoding.wait(5))
        return check_chain(self, model_type)

    def watched_prefetch(self: Analyzer, photo: PhotoImage, types: Iterable[str]) -> None:
        events.append(("start", photo.path.name))
        if not decoding.is_set():
            decoding.set()
            time.sleep(0.3)  # a big photo: the others are submitted meanwhile
        prefetch(self, photo, types)
        events.append(("end", photo.path.name))

    monkeypatch.setattr(Analyzer, "check_chain", slow_check)
    monkeypatch.setattr(Analyzer, "prefetch", watched_prefetch)
    result, _ = run(tmp_path, config, tmp_path / "photos")
    assert result.ok and result.summary.counts["done"] == 4
    assert seen_by_check[0]  # the first photo was being decoded while the check waited
    first = events[0][1]
    assert events[:2] == [("start", first), ("end", first)]


# --- Parallel: auto -------------------------------------------------------------------------


def _caption_config(path: Path, uri: str, service: str) -> Path:
    path.write_text("Models:\n  - Type: caption\n    Model: gemma3\n"
                    f"    Service: {{Uri: \"{uri}\"{service}}}\n"
                    "  - Type: labels\n    Default: true\n    Disabled: true\n")
    return path


def test_parallel_auto_finds_how_many_requests_the_server_serves_at_once(
        tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 40)
    with OllamaServer(models=["gemma3:latest"], parallel=4, latency=0.2) as server:
        config = _caption_config(tmp_path / "vision.yml", server.url, "")  # auto: the default
        result, _ = run(tmp_path, config, tmp_path / "photos")
        assert result.ok
        assert result.summary.parallel == {f"ollama {server.url}": 4}
        assert server.max_in_flight == 4  # every slot of the server was used


def test_parallel_auto_does_not_queue_requests_into_the_read_timeout(tmp_path: Path) -> None:
    """A server that runs one request at a time (Ollama's qwen3-vl, whatever
    OLLAMA_NUM_PARALLEL says): four in flight would wait past the read timeout."""
    write_photos(tmp_path / "photos", 6)
    with OllamaServer(models=["gemma3:latest"], parallel=1, latency=0.5) as server:
        timeout = ", Timeout: 1.5s, ConnectTimeout: 1s"
        fixed = _caption_config(tmp_path / "fixed.yml", server.url, f", Parallel: 4{timeout}")
        result, _ = run(tmp_path / "fixed", fixed, tmp_path / "photos")
        assert result.summary.failed > 0  # the queue behind a fixed Parallel: 4 timed out

        auto = _caption_config(tmp_path / "auto.yml", server.url, timeout)
        (tmp_path / "auto").mkdir()
        result, _ = run(tmp_path / "auto", auto, tmp_path / "photos",
                        options=RunOptions(force=True))
        assert result.ok and result.summary.failed == 0
        assert result.summary.parallel == {f"ollama {server.url}": 1}


def test_parallel_auto_sends_a_second_request_once_the_first_answer_begins(
        tmp_path: Path) -> None:
    """One request meets the server first; its first streamed token says the server is up and
    the model loaded, so the second photo's request goes while the first answer is still
    being written, not after it."""
    write_photos(tmp_path / "photos", 2)
    with OllamaServer(models=["gemma3:latest"], parallel=4, chunk_delay=0.3) as server:
        server.respond(Reply("A brown dog runs along a sandy beach at sunset."))  # 4 chunks
        config = _caption_config(tmp_path / "vision.yml", server.url, "")
        result, _ = run(tmp_path, config, tmp_path / "photos")
        assert result.ok and result.summary.counts["done"] == 2
        assert server.max_in_flight == 2


def test_a_later_run_goes_where_an_earlier_one_found_once_its_first_answer_begins(
        tmp_path: Path) -> None:
    """The state database's record of the server's slots: the next scan sends one request,
    then what was found and one waiting, instead of as many as its read timeout allows."""
    write_photos(tmp_path / "photos", 24)
    with OllamaServer(models=["gemma3:latest"], parallel=2, latency=0.2) as server:
        config = _caption_config(tmp_path / "vision.yml", server.url, "")
        first, _ = run(tmp_path, config, tmp_path / "photos")
        found = first.summary.parallel[f"ollama {server.url}"]
        assert server.max_arrived > found + 1  # a first measurement overshoots
        server.clear()
        write_photos(tmp_path / "more", 10)
        later, _ = run(tmp_path, config, tmp_path / "more")
        assert later.ok and later.summary.counts["done"] == 10
        assert 1 < server.max_arrived <= found + 1


def found_kept(state_path: Path) -> dict[str, FoundParallel]:
    with StateDB.open(state_path) as state:
        return state.parallel_found()


def test_what_parallel_auto_found_is_kept_per_service_it_asked(tmp_path: Path) -> None:
    """For `vision ls` and `doctor`. The fallback's service got no request: what an earlier
    run found there stays, rather than the 1 its limiter starts at."""
    write_photos(tmp_path / "photos", 20)
    with OllamaServer(models=["gemma3:latest"], parallel=2, latency=0.1) as first, \
            OllamaServer(models=["gemma3:latest"], parallel=4) as fallback:
        config = tmp_path / "vision.yml"
        config.write_text(  # the last entry of a type is tried first
            "Models:\n"
            f"  - {{Type: caption, Model: gemma3, Service: {{Uri: \"{fallback.url}\"}}}}\n"
            f"  - {{Type: caption, Model: gemma3, Service: {{Uri: \"{first.url}\"}}}}\n"
            "  - {Type: labels, Default: true, Disabled: true}\n")
        asked, not_asked = f"ollama {first.url}", f"ollama {fallback.url}"
        earlier = FoundParallel(3, 16, 1000.0)
        with StateDB.open(tmp_path / "state.db") as state:
            state.keep_parallel({not_asked: earlier})
        before = time.time()
        result, _ = run(tmp_path, config, tmp_path / "photos")
        assert result.ok
        assert not [r for r in fallback.requests if r.path == "/api/generate"]
    kept = found_kept(tmp_path / "state.db")
    assert kept[asked].found == result.summary.parallel[asked] >= 1
    assert kept[asked].most == AUTO_PARALLEL_MAX and before <= kept[asked].at <= time.time()
    assert kept[not_asked] == earlier


def test_a_dry_run_keeps_nothing_parallel_auto_found(tmp_path: Path,
                                                     server: OllamaServer) -> None:
    write_photos(tmp_path / "photos", 4)
    config = _caption_config(tmp_path / "vision.yml", server.url, "")
    result, _ = run(tmp_path, config, tmp_path / "photos", options=RunOptions(dry_run=True))
    assert result.ok and [r for r in server.requests if r.path == "/api/generate"]
    assert found_kept(tmp_path / "state.db") == {}
    result, _ = run(tmp_path, config, tmp_path / "photos")  # the same run, for real
    assert result.ok and set(found_kept(tmp_path / "state.db")) == {f"ollama {server.url}"}


def test_a_finding_that_cannot_be_kept_is_said_and_the_run_is_not_failed(
        tmp_path: Path, server: OllamaServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def full(self: StateDB, found: object) -> None:
        raise StateError(self.path, "database or disk is full", action="writing")

    monkeypatch.setattr(StateDB, "keep_parallel", full)
    write_photos(tmp_path / "photos", 2)
    config = _caption_config(tmp_path / "vision.yml", server.url, "")
    result, _ = run(tmp_path, config, tmp_path / "photos")
    assert result.ok and result.summary.counts["done"] == 2
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "not kept" in warning.getMessage() and "disk is full" in warning.getMessage()


def test_only_services_under_auto_have_a_finding_kept(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 4)
    with OllamaServer(models=["gemma3:latest"]) as auto, \
            OllamaServer(models=["gemma3:latest"], parallel=2) as fixed:
        config = tmp_path / "vision.yml"
        config.write_text(
            "Models:\n"
            f"  - {{Type: caption, Model: gemma3, Service: {{Uri: \"{auto.url}\"}}}}\n"
            f"  - {{Type: labels, Model: gemma3, Service: {{Uri: \"{fixed.url}\", "
            "Parallel: 2}}\n")
        measured = f"ollama {auto.url}"
        result, _ = run(tmp_path, config, tmp_path / "photos")
        assert result.ok and [r for r in fixed.requests if r.path == "/api/generate"]
    assert set(found_kept(tmp_path / "state.db")) == {measured}
