"""How the daemon stops: SIGTERM finishes and records the answers in flight (a next job asks
again at most the photos that were in flight), a second SIGTERM or SIGINT aborts at once even
while a request hangs on a wedged Ollama."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.daemon.helpers import photos
from tests.daemon.test_daemon import (
    XMPVISION,
    Daemon,
    config,
    daemon_factory,
    rescan,
    wait_for,
)
from tests.ollama_server import OllamaServer

__all__ = ["daemon_factory"]  # the fixture


def test_sigterm_mid_job_costs_at_most_the_photos_in_flight_again(
        tmp_path: Path, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "library"
    paths = photos(library, 30)
    with OllamaServer(models=["gemma3:latest"], latency=0.15) as server:
        # One request in flight, so that the photos in flight at the signal are one.
        vision = config(server.url, f"Daemon:\n  Paths: [{library}]\n").replace(
            "ConnectTimeout: 2s}", "ConnectTimeout: 2s, Parallel: 1}")
        daemon = daemon_factory(vision).start()
        wait_for(lambda: len(server.generate_requests()) >= 21, 60, "a third of the job")
        assert daemon.stop() == 0
        first = len(server.generate_requests())
        records = rescan(tmp_path, library, daemon.state)
        again = len(server.generate_requests()) - first
    assert "interrupted" in daemon.text()
    done = [r for r in records if r.get("status") == "done"]
    assert 0 < len(done) < len(paths)
    # Two answers (labels, caption) per photo; one request in flight at a time (Parallel 1):
    # at most that photo is asked again.
    assert first + again <= 2 * len(paths) + 2, (first, again)


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_aborts_while_a_request_hangs(
        tmp_path: Path, daemon_factory: Callable[..., Daemon], second: int) -> None:
    library = tmp_path / "library"
    photos(library, 3)
    with OllamaServer(models=["gemma3:latest"]) as server:
        server.wedge()  # every generation hangs (Service.Timeout 10 min below)
        vision = config(server.url, f"Daemon:\n  Paths: [{library}]\n").replace(
            "Timeout: 20s", "Timeout: 10m")
        daemon = daemon_factory(vision).start()
        wait_for(lambda: server.wedged_requests > 0, 60, "a hanging request")
        daemon.signal(signal.SIGTERM)
        wait_for(lambda: "stopping" in daemon.text(), 10, "the first signal")
        assert daemon.process is not None and daemon.process.poll() is None  # still waiting
        daemon.signal(second)
        code = daemon.process.wait(timeout=10)  # not the 10 min read timeout
        server.unwedge()
    assert code == 130
    assert "aborting now" in daemon.text()


def test_a_second_daemon_on_the_same_state_refuses(
        tmp_path: Path, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "library"
    photos(library, 1)
    with OllamaServer(models=["gemma3:latest"], latency=0.01) as server:
        daemon = daemon_factory(config(server.url, f"Daemon:\n  Paths: [{library}]\n")).start()
        wait_for(lambda: "daemon ready" in daemon.text(), 60, "the first daemon")
        second = subprocess.run(
            [*XMPVISION, "daemon", "--config", str(daemon.config), "--schedules",
             str(daemon.schedules), "--state", str(daemon.state)],
            capture_output=True, text=True, check=False, timeout=60, env=daemon.env)
        assert daemon.stop() == 0
    assert second.returncode == 2
    assert "another xmpvision daemon" in second.stderr and str(daemon.state) in second.stderr
