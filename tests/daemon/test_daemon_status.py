"""`status` tells the truth about the daemon: whether it runs, the running job's progress (also
as systemd's STATUS=), the last job's failed photos, and next run times that survive reloads
and restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.daemon.helpers import photos
from tests.daemon.test_daemon import (
    XMPVISION,
    Daemon,
    config,
    daemon_factory,
    received,
    wait_for,
)
from tests.ollama_server import OllamaServer

__all__ = ["daemon_factory"]  # the fixture


def status(state: Path) -> dict[str, Any]:
    result = subprocess.run([*XMPVISION, "status", "--json", "--state", str(state)],
                            capture_output=True, text=True, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def status_text(state: Path) -> str:
    return subprocess.run([*XMPVISION, "status", "--state", str(state)], capture_output=True,
                          text=True, check=True).stdout


def job(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next((j for j in report.get("jobs", []) if j["name"] == name), {})


def test_running_progress_failures_and_a_stopped_daemon(
        tmp_path: Path, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "library"
    photos(library, 12)
    broken = library / "IMG_broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    os.utime(broken, (1.7e9, 1.7e9))  # broken for long, not being copied in
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(30)
    with OllamaServer(models=["gemma3:latest"], latency=0.25) as server:
        daemon = daemon_factory(config(server.url, f"Daemon:\n  Paths: [{library}]\n"),
                                env={"NOTIFY_SOCKET": address}).start()

        def progressing() -> bool:
            worker = job(status(daemon.state), "newly-indexed")
            return (worker.get("last_result") == "running"
                    and (worker.get("progress") or {}).get("done", 0) >= 2)

        wait_for(progressing, 60, "progress of the running job")
        running = status(daemon.state)
        assert running["daemon"]["running"] and running["daemon"]["pid"] > 0
        assert "so far" in status_text(daemon.state)
        wait_for(lambda: job(status(daemon.state), "newly-indexed").get("last_result")
                 == "failed", 60, "the end of the job")
        text = status_text(daemon.state)
        assert f"failed {broken}:" in text and "daemon: running" in text
        messages = received(sock)
        sock.close()
        assert daemon.stop() == 0
    assert any("STATUS=running newly-indexed: " in m and " done" in m for m in messages)
    stopped = status(daemon.state)
    assert stopped["daemon"] == {"running": False, "pid": None}
    assert all(j["next_run"] is None and j["last_result"] != "running"
               for j in stopped["jobs"])
    text = status_text(daemon.state)
    assert "daemon: not running" in text and "next " not in text


def test_next_runs_survive_reloads_and_restarts(
        tmp_path: Path, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "library"
    photos(library, 1)
    with OllamaServer(models=["gemma3:latest"], latency=0.01) as server:
        first = daemon_factory(config(server.url))
        (first.schedules / "hourly.yml").write_text(
            f"Name: hourly\nPaths: [{library}]\nEvery: 1h\n")
        (first.schedules / "nightly.yml").write_text(
            f"Name: nightly\nPaths: [{library}]\nCron: daily\n")
        first.start()

        def next_runs() -> dict[str, float]:
            report = status(first.state)
            return {j["name"]: j["next_run"] for j in report.get("jobs", [])
                    if j["next_run"] is not None}

        wait_for(lambda: len(next_runs()) == 2, 60, "the schedules")
        planned = next_runs()
        for reload in range(1, 4):
            first.signal(signal.SIGHUP)
            wait_for(lambda: first.text().count("reloaded") >= reload, 30,  # noqa: B023
                     "a reload")
        assert next_runs() == planned
        assert first.stop() == 0
        second = daemon_factory(config(server.url)).start()
        wait_for(lambda: "daemon ready" in second.text(), 60, "the restarted daemon")
        wait_for(lambda: len(next_runs()) == 2, 30, "the schedules")
        assert next_runs() == planned
        assert second.stop() == 0
