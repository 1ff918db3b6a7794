"""The health and daemon tests' set-up: the Ollama emulator as its own process (so that a
restart command can really kill and start it), a folder of photos, a vision.yml, and runs of a
mixed workload under health monitors."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.library_builder import jpeg_bytes
from tests.ollama_server import answers
from xmpvision import jobs
from xmpvision.chain.analyzer import MANUAL_CONTEXTS
from xmpvision.chain.compose import Engines
from xmpvision.config import parse_config
from xmpvision.config.daemon import HealthConfig
from xmpvision.config.models import ModelConfig
from xmpvision.engines.base import TimedEngine
from xmpvision.engines.ollama import base_url
from xmpvision.engines.ollama.timing import Timing
from xmpvision.health.monitor import HealthMonitor
from xmpvision.health.store import HealthStore, health_path
from xmpvision.pipeline import RunOptions
from xmpvision.report import PhotoReport

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gemma3:latest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmulatorProcess:
    """`python -m tests.ollama_server serve` on a fixed port, with a restart command."""

    port: int
    pidfile: Path
    args: list[str]
    first: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restart_command(self, *args: str) -> str:
        """Kills the running server and starts `serve` with `args` (default: the first
        server's, without its scenario: healthy again) on the same port."""
        serve = list(args) if args else ["--latency", self.latency()]
        command = [
            "env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "tests.ollama_server", "restart",
            "--pidfile", str(self.pidfile), "--", "serve", "--port", str(self.port),
            "--models", MODEL, *serve,
        ]
        return shlex.join(command)

    def latency(self) -> str:
        return self.args[self.args.index("--latency") + 1] if "--latency" in self.args else "0"

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, 9)
        except (OSError, ValueError):
            pass
        if self.first is not None:
            self.first.kill()
            self.first.wait()


@contextmanager
def emulator_process(tmp: Path, *args: str) -> Iterator[EmulatorProcess]:
    port = free_port()
    pidfile = tmp / "ollama.pid"
    process = EmulatorProcess(port, pidfile, list(args))
    process.first = subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_server", "serve", "--port", str(port),
         "--models", MODEL, "--pidfile", str(pidfile), *args],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and answers(port)):
        assert time.monotonic() < deadline, "the emulator did not start"
        time.sleep(0.05)
    try:
        yield process
    finally:
        process.stop()


def photos(folder: Path, count: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = folder / f"IMG_{index:04d}.jpg"
        path.write_bytes(jpeg_bytes((64, 48), ((index * 37) % 256, 90, 160)))
        paths.append(path)
    return paths


def vision_yml(url: str, *, health: str = "", daemon: str = "", parallel: int | str = 1,
               labels: bool = False, generate: bool = False) -> str:
    """Ollama captions (and labels: then no classifier fallback is added; and a generate
    model answering both in one request) on `url`."""
    service = (f"{{Uri: \"{url}\", Timeout: 20s, ConnectTimeout: 2s, "
               f"Parallel: {parallel}}}")
    types = ["labels", "caption"] if labels else ["caption"]
    types += ["generate\n    Types: [caption, labels]"] if generate else []
    entries = "".join(f"  - Type: {t}\n    Engine: ollama\n    Model: {MODEL}\n"
                      f"    Service: {service}\n" for t in types)
    return "Models:\n" + entries + health + daemon


@dataclass
class Collect:
    """A Reporter that keeps what it was told."""

    reports: list[PhotoReport] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def photo(self, report: PhotoReport) -> None:
        self.reports.append(report)

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def unchanged(self, path: str) -> None:
        pass


class Recording:
    """A health monitor as the engines' watcher, with every timing it is told recorded."""

    def __init__(self, monitor: HealthMonitor) -> None:
        self.monitor = monitor
        self.timings: list[Timing] = []

    def attach(self, engine: TimedEngine, model: ModelConfig) -> None:
        self.monitor.attach(engine, model)
        gate = self.monitor.gate(base_url(model))
        assert gate is not None

        def both(timing: Timing) -> None:
            self.timings.append(timing)
            self.monitor.observe(timing)

        engine.watch(both, gate)


# The answer kinds a mixed workload asks for, one run each: captions only (free text), labels
# only (schema-constrained), both, and both from a generate model (one schema-constrained
# request per photo).
MIX = (("caption",), ("labels",), ("labels", "caption"), ("generate",))


@dataclass
class MixedRuns:
    """Runs of different answer kinds, each with a monitor of its own (a fresh `scan`, a
    daemon job after a reload) on one health store file, as on a NAS."""

    restarts: list[tuple[float, float]] = field(default_factory=list)  # (began, ended)
    timings: list[Timing] = field(default_factory=list)
    failed: int = 0
    done: int = 0

    def answered_before_restart(self, onset: int) -> int:
        """Answers from the `onset`-th on (the emulator's `--lose-gpu-after`: requests are
        answered one at a time, in order) completed before the first restart began: the
        detection delay in requests."""
        if not self.restarts:
            return len(self.timings) - onset
        began = self.restarts[0][0]
        return sum(1 for t in self.timings[onset:] if t.started + t.wall <= began)


def mixed_runs(url: str, state: Path, library: Path, health: HealthConfig, requests: int,
               plan: Sequence[tuple[str, ...]] = MIX, *,
               store_path: Path | None = None) -> MixedRuns:
    """Runs of `plan`'s types over `library` (every photo asked again) until about `requests`
    generate requests were answered; the health store beside `state` unless given."""
    separate = parse_config(vision_yml(url, labels=True))
    combined = parse_config(vision_yml(url, labels=True, generate=True))
    mixed = MixedRuns()
    step = 0
    while len(mixed.timings) < requests:
        types = plan[step % len(plan)]
        step += 1
        config = combined if types == ("generate",) else separate
        types = ("labels", "caption") if types == ("generate",) else types
        with HealthStore(store_path or health_path(state)) as store:
            monitor = HealthMonitor(config.models, health, store)
            recording = Recording(monitor)
            engines = Engines(config.thresholds, recording)
            monitor.start()
            try:
                result = jobs.run_models(config, [library], types=types,
                                         contexts=MANUAL_CONTEXTS,
                                         options=RunOptions(force=True), reporter=Collect(),
                                         state_path=state, engines=engines)
            finally:
                engines.close()
                monitor.close()
        mixed.timings += recording.timings
        mixed.restarts += monitor.restart_times
        mixed.failed += result.summary.failed
        mixed.done += result.summary.counts["done"]
    return mixed
