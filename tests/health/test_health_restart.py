"""The health monitor inside a real run, against the emulator in its own process and a restart
command that really kills and starts it again (restoring the GPU, unless told otherwise)."""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.daemon.helpers import Collect, Recording, emulator_process, photos, vision_yml
from xmpvision import jobs
from xmpvision.chain.analyzer import MANUAL_CONTEXTS
from xmpvision.chain.compose import Engines
from xmpvision.config import parse_config
from xmpvision.config.daemon import HealthConfig
from xmpvision.engines.ollama.timing import Timing
from xmpvision.health.monitor import HealthMonitor
from xmpvision.health.store import HealthStore
from xmpvision.pipeline import RunOptions, RunResult


@dataclass
class Incident:
    result: RunResult
    reporter: Collect
    monitor: HealthMonitor
    timings: list[Timing]
    store: HealthStore

    def speeds(self) -> list[float]:
        return [t.speed()[1] for t in self.timings]

    def baseline(self) -> float:
        return statistics.median(self.speeds()[:10])


def run_incident(tmp_path: Path, server_args: list[str], count: int,
                 health: Callable[[str], HealthConfig], restart_args: list[str] | None = None,
                 ) -> Incident:
    library = tmp_path / "photos"
    photos(library, count)
    with emulator_process(tmp_path, *server_args) as ollama:
        command = ollama.restart_command(*(restart_args or []))
        config = parse_config(vision_yml(ollama.url))
        store = HealthStore.beside(tmp_path / "state.sqlite3")
        monitor = HealthMonitor(config.models, health(command), store)
        recording = Recording(monitor)
        engines = Engines(config.thresholds, recording)
        timings = recording.timings
        reporter = Collect()
        monitor.start()
        try:
            result = jobs.run_models(
                config, [library], types=["caption"], contexts=MANUAL_CONTEXTS,
                options=RunOptions(), reporter=reporter, state_path=tmp_path / "state.sqlite3",
                engines=engines,
            )
        finally:
            engines.close()
            monitor.close()
            store.flush()
    return Incident(result, reporter, monitor, timings, store)


def health(interval: float = 0.5, **keys: object) -> Callable[[str], HealthConfig]:
    def make(command: str) -> HealthConfig:
        values: dict[str, object] = {"Interval": interval, "Window": 10, "Drift": 2.0,
                                     "Restart": command, "RestartTimeout": "20s",
                                     "Cooldown": "1s", "MaxRestarts": 3}
        values.update(keys)
        return HealthConfig.model_validate(values)

    return make


def test_gpu_lost_is_restarted_once_and_speed_comes_back(tmp_path: Path) -> None:
    run = run_incident(tmp_path, ["--latency", "0.02", "--lose-gpu-after", "40"], 110, health())
    assert run.result.summary.counts["done"] == 110
    assert run.result.summary.failed == 0
    assert len(run.monitor.restart_times) == 1
    began, ended = run.monitor.restart_times[0]
    baseline = run.baseline()
    # The slow answers (8x: GPU lost) completed before the restart began: the detection delay.
    slow_before = [t for t in run.timings if t.speed()[1] < baseline / 4
                   and t.started + t.wall <= began]
    assert slow_before, "the GPU was lost before the restart"
    onset = min(t.started for t in slow_before)
    interval = 0.5
    assert len(slow_before) <= 10 or began - onset <= 2 * interval
    after = [t.speed()[1] for t in run.timings if t.started >= ended]
    assert len(after) >= 10
    assert statistics.median(after) > baseline / 1.5  # the speed is back
    events = [e for _, _, e, _ in run.store.events()]
    assert events.count("restart") == 1


def test_slow_growth_with_ps_claiming_gpu_restarts_once_past_drift(tmp_path: Path) -> None:
    run = run_incident(tmp_path, ["--latency", "0.01", "--drift-after", "25",
                                  "--drift-per-request", "0.08"], 90, health(interval=30))
    assert run.result.summary.failed == 0
    assert len(run.monitor.restart_times) == 1
    began, ended = run.monitor.restart_times[0]
    baseline = run.baseline()
    # Restarted only once the window's median had passed Drift, not at the first slow answer.
    before = [t.speed()[1] for t in run.timings if t.started + t.wall <= began]
    assert statistics.median(before[-10:]) < baseline / 2
    after = [t.speed()[1] for t in run.timings if t.started >= ended]
    assert statistics.median(after) > baseline / 1.5


def test_restart_that_does_not_help_is_not_repeated(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    run = run_incident(tmp_path, ["--latency", "0.02", "--lose-gpu-after", "30"], 70,
                       health(MaxRestarts=3),
                       restart_args=["--latency", "0.02", "--lose-gpu-after", "0"])
    assert run.result.summary.failed == 0
    assert run.result.summary.counts["done"] == 70
    assert 1 <= len(run.monitor.restart_times) <= 3
    assert "did not help" in caplog.text


@pytest.mark.parametrize("command", ["/nonexistent/restart-ollama", "sleep 30"])
def test_failing_or_hanging_restart_command_is_logged_and_the_run_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, command: str) -> None:
    caplog.set_level(logging.WARNING)

    def config(_: str) -> HealthConfig:
        return health(Restart=command, RestartTimeout="1s", MaxRestarts=1)("unused")

    run = run_incident(tmp_path, ["--latency", "0.02", "--lose-gpu-after", "20"], 40, config)
    assert run.result.summary.failed == 0
    assert run.result.summary.counts["done"] == 40
    assert "restart command failed" in caplog.text
    assert len(run.monitor.restart_times) == 1  # MaxRestarts holds
    assert "restart-failed" in [e for _, _, e, _ in run.store.events()]


def test_the_monitor_runs_inside_xmpvision_scan(tmp_path: Path) -> None:
    """The nightly oneshot scan is where the many requests happen: it restarts Ollama too."""
    library = tmp_path / "photos"
    photos(library, 60)
    with emulator_process(tmp_path, "--latency", "0.02", "--lose-gpu-after", "40") as ollama:
        command = json.dumps(ollama.restart_command())
        extra = f"Health: {{Interval: 0.5s, Window: 10, Restart: {command}, RestartTimeout: 20s}}\n"
        config = tmp_path / "vision.yml"
        config.write_text(vision_yml(ollama.url, health=extra, labels=True))
        state = tmp_path / "state.sqlite3"
        result = subprocess.run(
            [sys.executable, "-m", "xmpvision", "scan", "--config", str(config), "--state",
             str(state), str(library)], capture_output=True, text=True, check=False,
            timeout=300, env={**os.environ, "XMPVISION_NO_DOWNLOAD": "1"})
    assert result.returncode == 0, result.stderr
    assert "60 done" in result.stdout and "0 failed" in result.stdout
    assert "restarting it" in result.stderr
    with HealthStore.beside(state) as store:
        assert [e for _, _, e, _ in store.events()].count("restart") == 1
