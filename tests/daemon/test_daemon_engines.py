"""The daemon's jobs build their engines as a scan does (chain/compose.py): a circuit breaker
per endpoint, several endpoints spread over, remembered failures that expire at the next job,
whatever the engine. Run in-process through the daemon's own job function, against loopback
emulators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.helpers import MODEL, photos
from tests.ollama_server import OllamaServer
from tests.openai_server import OpenAIServer
from xmpvision.chain.analyzer import SCAN_CONTEXTS
from xmpvision.daemon.service import Daemon, Setup
from xmpvision.pipeline import RunOptions, RunResult

FALLBACK = "llava:7b"


@pytest.fixture
def daemon_at(tmp_path: Path) -> Iterator[list[Daemon]]:
    made: list[Daemon] = []
    yield made
    for daemon in made:
        daemon._runtime.close()
        daemon._store.close()


def make_daemon(tmp_path: Path, made: list[Daemon], models: str) -> Daemon:
    library = tmp_path / "library"
    library.mkdir(exist_ok=True)
    vision = tmp_path / "vision.yml"
    vision.write_text(f"Models:\n{models}Health: {{Restart: none}}\n"
                      f"Daemon: {{Paths: [{library}], Worker: {{Watch: false}}}}\n")
    schedules = tmp_path / "schedules"
    schedules.mkdir(exist_ok=True)
    daemon = Daemon(Setup(vision, schedules, tmp_path / "state.sqlite3"))
    made.append(daemon)
    return daemon


def job(daemon: Daemon, library: Path, types: tuple[str, ...]) -> RunResult:
    result = daemon._run("test-job", [library], types, SCAN_CONTEXTS, RunOptions())
    assert result is not None
    return result


def test_a_server_wedged_mid_job_costs_a_few_timeouts_and_photos_go_to_the_next_model(
        tmp_path: Path, daemon_at: list[Daemon]) -> None:
    with OllamaServer(models=[MODEL]) as wedging, OllamaServer(models=[FALLBACK]) as spare:
        daemon = make_daemon(tmp_path, daemon_at, (
            f"  - {{Type: labels, Engine: ollama, Model: {FALLBACK},"
            f" Service: {{Uri: '{spare.url}'}}}}\n"
            f"  - {{Type: labels, Engine: ollama, Model: {MODEL},"
            f" Service: {{Uri: '{wedging.url}', Timeout: 1s, Parallel: 1}}}}\n"))
        library = tmp_path / "library"
        photos(library, 30)
        wedging.wedge(after=5)
        result = job(daemon, library, ("labels",))
        wedging.unwedge()
    assert result.summary.counts["done"] == 30 and result.summary.failed == 0
    # Three timeouts open the breaker; the probe period (60 s) outlasts the job.
    assert wedging.wedged_requests <= 4
    assert spare.generate_count >= 25


def test_a_model_on_three_endpoints_runs_in_a_job_and_spreads_its_requests(
        tmp_path: Path, daemon_at: list[Daemon]) -> None:
    servers = [OllamaServer(models=[MODEL], latency=0.05) for _ in range(3)]
    with servers[0] as one, servers[1] as two, servers[2] as three:
        uris = ", ".join(f"'{s.url}'" for s in (one, two, three))
        daemon = make_daemon(tmp_path, daemon_at, (
            f"  - {{Type: caption, Engine: ollama, Model: {MODEL},"
            f" Service: {{Uri: [{uris}], Parallel: 1}}}}\n"))
        library = tmp_path / "library"
        photos(library, 24)
        result = job(daemon, library, ("caption",))
    assert result.summary.counts["done"] == 24 and result.summary.failed == 0
    counts = [s.generate_count for s in (one, two, three)]
    assert sum(counts) == 24 and min(counts) >= 3, counts


def test_an_openai_model_missing_at_one_job_is_asked_for_again_at_the_next(
        tmp_path: Path, daemon_at: list[Daemon]) -> None:
    with OpenAIServer(models=["other"]) as server:
        daemon = make_daemon(tmp_path, daemon_at, (
            "  - {Type: caption, Engine: openai, Model: vision-1,"
            f" Service: {{Uri: '{server.base_url}', Key: k}}}}\n"))
        library = tmp_path / "library"
        photos(library, 3)
        first = job(daemon, library, ("caption",))
        assert first.summary.counts["done"] == 0
        server.models.append("vision-1")  # served before the next job
        second = job(daemon, library, ("caption",))
    assert second.summary.counts["done"] == 3 and second.summary.failed == 0


def test_parallel_auto_resumes_at_the_next_job_and_reports_only_what_the_job_asked(
        tmp_path: Path, daemon_at: list[Daemon]) -> None:
    """The first job measures the server (two slots); the next job, a few new photos, meets
    the server with one request and then goes to what the first found and one waiting, not
    as many as the read timeout allows (what a fresh limiter sends)."""
    with OllamaServer(models=[MODEL], latency=0.2, parallel=2) as server:
        daemon = make_daemon(tmp_path, daemon_at, (
            f"  - {{Type: caption, Engine: ollama, Model: {MODEL},"
            f" Service: {{Uri: '{server.url}'}}}}\n"))
        library = tmp_path / "library"
        photos(library, 24)
        first = job(daemon, library, ("caption",))
        key = f"ollama {server.url}"
        found = first.summary.parallel[key]
        assert server.max_arrived > found + 1  # the first job's climb sent more
        limiter = daemon._runtime.engines.limiters[key]
        server.clear()
        photos(library, 8, start=100)
        second = job(daemon, library, ("caption",))
        assert daemon._runtime.engines.limiters[key] is limiter
    assert second.summary.counts["done"] == 8 and set(second.summary.parallel) == {key}
    assert server.max_arrived <= found + 1
