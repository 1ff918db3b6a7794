"""`xmpvision daemon` as a subprocess with second-level schedules against the emulator: it
scans, the worker picks up photos added later (by the watch, or by polling), SIGTERM exits 0
with the state consistent, SIGHUP reloads (and keeps the old configuration when the new one is
broken), and systemd is told READY and STOPPING."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon.helpers import MODEL, photos
from tests.ollama_server import OllamaServer

XMPVISION = [sys.executable, "-m", "xmpvision"]


def config(url: str, daemon: str = "") -> str:
    service = f'{{Uri: "{url}", Timeout: 20s, ConnectTimeout: 2s}}'
    return (
        "Models:\n"
        f"  - {{Type: labels, Engine: ollama, Model: {MODEL}, Service: {service}}}\n"
        f"  - {{Type: caption, Engine: ollama, Model: {MODEL}, Service: {service}}}\n"
        "Health: {Interval: 1s, Restart: none}\n" + daemon
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def received(sock: socket.socket) -> list[str]:
    """The datagrams (sd_notify messages) waiting on `sock`, until it is quiet for 1 s."""
    messages = []
    sock.settimeout(1)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except TimeoutError:
        pass
    return messages


def sidecars(paths: list[Path]) -> Callable[[], bool]:
    return lambda: all(Path(f"{p}.xmp").exists() for p in paths)


class Daemon:
    def __init__(self, tmp: Path, vision: str, *, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.config = tmp / "vision.yml"
        self.config.write_text(vision)
        self.schedules = tmp / "schedules"
        self.schedules.mkdir(exist_ok=True)
        self.state = tmp / "state.sqlite3"
        self.log = tmp / "daemon.log"
        self.env = {**os.environ, "XMPVISION_NO_DOWNLOAD": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*XMPVISION, "daemon", "--config", str(self.config), "--schedules",
                 str(self.schedules), "--state", str(self.state)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(vision: str, **kwargs: object) -> Daemon:
        daemon = Daemon(tmp_path, vision, **kwargs)  # type: ignore[arg-type]
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.kill()


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    with OllamaServer(models=[MODEL], latency=0.01) as emulator:
        yield emulator


def rescan(tmp: Path, folder: Path, state: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [*XMPVISION, "scan", "--json", "--config", str(tmp / "vision.yml"), "--state",
         str(state), str(folder)], capture_output=True, text=True, check=False,
        env={**os.environ, "XMPVISION_NO_DOWNLOAD": "1"})
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_watch_finds_new_photos_after_debounce_and_sigterm_exits_0(
        tmp_path: Path, server: OllamaServer, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "library"
    first = photos(library, 3)
    daemon = daemon_factory(config(server.url, (
        f"Daemon:\n  Paths: [{library}]\n  Worker: {{Every: 1h, Watch: true, Debounce: 1s}}\n"
    ))).start()
    wait_for(sidecars(first), 30, "the first pass")
    time.sleep(0.5)
    later = photos(library / "2026", 2, start=100)
    waited = wait_for(sidecars(later), 1 + 8, "the watch to wake the worker")
    assert waited < 1 + 8
    assert daemon.stop() == 0
    text = daemon.text()
    assert "new photos seen" in text and "daemon stopped" in text
    # The state agrees with the sidecars: a rescan finds nothing to do.
    records = rescan(tmp_path, library, daemon.state)
    statuses = [r["status"] for r in records if "status" in r]
    assert statuses == ["unchanged"] * 5


def test_without_watch_polling_finds_new_photos_within_every(
        tmp_path: Path, server: OllamaServer, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "library"
    first = photos(library, 2)
    daemon = daemon_factory(config(server.url, (
        f"Daemon:\n  Paths: [{library}]\n  Worker: {{Every: 3s, Watch: false}}\n"
    ))).start()
    wait_for(sidecars(first), 30, "the first pass")
    later = photos(library, 2, start=50)
    wait_for(sidecars(later), 3 + 5, "the next polling pass")
    assert "new photos seen" not in daemon.text()
    assert daemon.stop() == 0


def test_schedule_runs_and_status_reports_it(
        tmp_path: Path, server: OllamaServer, daemon_factory: Callable[..., Daemon]) -> None:
    library, other = tmp_path / "library", tmp_path / "other"
    paths = photos(library, 2)
    photos(other, 2)
    # The worker too, every second on another folder: the two take turns on one database.
    daemon = daemon_factory(config(server.url, (
        f"Daemon:\n  Paths: [{other}]\n  Worker: {{Every: 1s, Watch: false}}\n")))
    (daemon.schedules / "quick.yml").write_text(
        f"Name: quick\nPaths: [{library}]\nEvery: 1s\nModels: [caption]\n")
    daemon.start()
    wait_for(sidecars(paths), 30, "the scheduled job")

    def finished() -> bool:
        result = subprocess.run([*XMPVISION, "status", "--json", "--state", str(daemon.state)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return False
        jobs = json.loads(result.stdout)["jobs"]
        return any(j["name"] == "quick" and j["last_result"] == "ok" and j["next_run"]
                   for j in jobs)

    wait_for(finished, 15, "status to show the finished job")
    time.sleep(3)  # a few more turns of both
    assert daemon.stop() == 0
    assert "another xmpvision run is using" not in daemon.text()
    # Models: [caption] in the schedule: its photos have a caption and no keywords; the
    # worker's have both.
    assert all(">Dog<" not in Path(f"{p}.xmp").read_text() for p in paths)
    assert all(">Dog<" in Path(f"{p}.xmp").read_text() for p in other.glob("*.jpg"))


def test_sighup_reloads_and_a_broken_file_keeps_the_old_configuration(
        tmp_path: Path, server: OllamaServer, daemon_factory: Callable[..., Daemon]) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    photos(first, 1)
    daemon = daemon_factory(config(server.url))
    schedule = daemon.schedules / "job.yml"
    schedule.write_text(f"Name: job\nPaths: [{first}]\nEvery: 1s\n")
    daemon.start()
    wait_for(sidecars([first / "IMG_0000.jpg"]), 30, "the first schedule")
    schedule.write_text(f"Name: job\nPaths: [{second}]\nEvery: 1s\n")
    new = photos(second, 2)
    daemon.signal(signal.SIGHUP)
    wait_for(sidecars(new), 15, "the reloaded schedule")
    schedule.write_text("Name: job\nPaths: [/x]\nEvry: 1s\n")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in daemon.text(), 10, "the reload to be refused")
    assert f"{schedule}:3:1: Evry: unknown key" in daemon.text()
    more = photos(second, 1, start=7)
    wait_for(sidecars(more), 15, "the old configuration to keep running")
    assert daemon.stop() == 0


def test_sigterm_mid_job_finishes_the_photos_in_flight(
        tmp_path: Path, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "library"
    paths = photos(library, 12)
    with OllamaServer(models=[MODEL], latency=0.4) as slow:
        daemon = daemon_factory(config(slow.url, f"Daemon:\n  Paths: [{library}]\n")).start()
        wait_for(lambda: any(Path(f"{p}.xmp").exists() for p in paths), 30, "a first photo")
        assert daemon.stop() == 0
        assert "interrupted" in daemon.text()
        written = [p for p in paths if Path(f"{p}.xmp").exists()]
        assert 0 < len(written) < len(paths)
        records = rescan(tmp_path, library, daemon.state)
    by_path = {r["path"]: r["status"] for r in records if "path" in r}
    # What the daemon wrote is recorded as done; the rest is done by the rescan.
    assert all(by_path[str(p)] == "unchanged" for p in written)
    assert all(by_path[str(p)] == "done" for p in paths if p not in written)


def test_a_broken_schedule_file_is_a_config_error(tmp_path: Path, server: OllamaServer) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "bad.yml").write_text(
        "Name: bad\nPaths: [/srv]\nCron: '61 2 * * *'\n")
    (tmp_path / "vision.yml").write_text(config(server.url))
    result = subprocess.run(
        [*XMPVISION, "daemon", "--config", str(tmp_path / "vision.yml"), "--schedules",
         str(tmp_path / "schedules"), "--state", str(tmp_path / "state.sqlite3")],
        capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 2
    assert f"{tmp_path / 'schedules' / 'bad.yml'}:3:1: Cron: invalid Cron" in result.stderr


def test_notifies_systemd_ready_and_stopping(
        tmp_path: Path, server: OllamaServer, daemon_factory: Callable[..., Daemon]) -> None:
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(30)
    library = tmp_path / "library"
    photos(library, 1)
    daemon = daemon_factory(config(server.url, f"Daemon:\n  Paths: [{library}]\n"),
                            env={"NOTIFY_SOCKET": address, "INVOCATION_ID": "test"}).start()
    messages = [sock.recv(4096).decode()]
    while "READY=1" not in messages[-1]:  # STATUS lines may come first
        messages.append(sock.recv(4096).decode())
    assert daemon.stop() == 0
    messages += received(sock)
    assert any("STOPPING=1" in m for m in messages)
    # Under systemd the journal stamps the time: the lines carry none.
    assert not daemon.text().startswith("20")
    sock.close()
