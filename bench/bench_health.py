"""The Ollama health monitor over an incident (issue #10).

The emulator runs in a process of its own (`python -m tests.ollama_server serve`), and the
restart command really kills and starts it again on the same port, with the GPU back. A real
run (jobs.run_models, captions, small photos so that the service dominates) goes over N photos:

- floor: the same N photos on a healthy emulator, measured first in the same run;
- incident: the GPU is lost at request K (size_vram 0, 8x slower), with the monitor;
- unmonitored: the same incident with `Restart: none` (what the run costs without us).

Printed: the detection delay after the onset (slow answers completed before the restart began,
and seconds), photos failed during the incident (goal 0), throughput over the incident as a
share of the floor's (the ideal), and false restarts on a noisy healthy run (goal 0): the
drift detector fed 2,000 seeded lognormal samples with rare 4x outliers, and a real run on a
noisy emulator.

    .venv/bin/python -m bench.bench_health [--photos 200] [--onset 60] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import clean_sidecars
from tests.daemon.helpers import Collect, Recording, emulator_process, photos, vision_yml
from xmpvision import jobs
from xmpvision.chain.analyzer import MANUAL_CONTEXTS
from xmpvision.chain.compose import Engines
from xmpvision.config import parse_config
from xmpvision.config.daemon import HealthConfig
from xmpvision.engines.ollama.timing import Timing
from xmpvision.health.drift import DriftDetector
from xmpvision.health.monitor import HealthMonitor
from xmpvision.health.store import HealthStore
from xmpvision.pipeline import RunOptions


@dataclass
class Run:
    seconds: float
    done: int
    failed: int
    restarts: list[tuple[float, float]]
    timings: list[Timing]


def run(folder: Path, server_args: list[str], *, restart: bool, interval: float) -> Run:
    work = Path(tempfile.mkdtemp(dir=folder))
    library = folder / "photos"
    clean_sidecars(library)  # every run starts from photos without sidecars
    with emulator_process(work, *server_args) as ollama:
        config = parse_config(vision_yml(ollama.url))
        health = HealthConfig.model_validate({
            "Interval": interval, "Window": 20, "Drift": 2.0, "Cooldown": "15m",
            "Restart": ollama.restart_command() if restart else "none",
            "RestartTimeout": "30s", "MaxRestarts": 3})
        store = HealthStore.beside(work / "state.sqlite3")
        monitor = HealthMonitor(config.models, health, store)
        recording = Recording(monitor)
        engines = Engines(config.thresholds, recording)
        timings = recording.timings
        monitor.start()
        started = time.monotonic()
        try:
            result = jobs.run_models(config, [library], types=["caption"],
                                     contexts=MANUAL_CONTEXTS, options=RunOptions(),
                                     reporter=Collect(), state_path=work / "state.sqlite3",
                                     engines=engines)
        finally:
            seconds = time.monotonic() - started
            engines.close()
            monitor.close()
            store.close()
    return Run(seconds, result.summary.counts["done"], result.summary.failed,
               list(monitor.restart_times), timings)


def detection(incident: Run, floor: Run) -> tuple[int, float] | None:
    """(slow answers before the restart began, seconds from the onset to it)."""
    if not incident.restarts:
        return None
    began = incident.restarts[0][0]
    healthy = sorted(t.speed()[1] for t in floor.timings)[len(floor.timings) // 2]
    slow = [t for t in incident.timings
            if t.speed()[1] < healthy / 4 and t.started + t.wall <= began]
    if not slow:
        return 0, 0.0
    return len(slow), began - min(t.started for t in slow)


def noisy_detector(samples: int, seed: int) -> int:
    rng = random.Random(seed)
    detector = DriftDetector(window=20, drift=2.0)
    drifts = 0
    for _ in range(samples):
        speed = 40.0 * math.exp(rng.gauss(0.0, 0.35))
        if rng.random() < 0.01:
            speed /= 4
        if detector.add(speed).drifted:
            drifts += 1
            detector.reset()
    return drifts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--onset", type=int, default=60, help="the request the GPU is lost at")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--interval", type=float, default=1.0, help="Health.Interval, s")
    args = parser.parse_args(argv)
    latency = ["--latency", str(args.latency)]
    lost = [*latency, "--lose-gpu-after", str(args.onset), "--gpu-slowdown", "8"]
    with tempfile.TemporaryDirectory(prefix="xmpvision-bench-health-") as tmp:
        folder = Path(tmp)
        photos(folder / "photos", args.photos)
        floor = run(folder, latency, restart=True, interval=args.interval)
        incident = run(folder, lost, restart=True, interval=args.interval)
        unmonitored = run(folder, lost, restart=False, interval=args.interval)
        noisy = run(folder, [*latency, "--noise", "0.35", "--outlier-rate", "0.01"],
                    restart=True, interval=args.interval)
    print(f"photos {args.photos}, GPU lost at request {args.onset} (8x slower), latency "
          f"{args.latency}s, Interval {args.interval}s, Window 20, Drift 2")
    print(f"floor (healthy run): {floor.seconds:.2f} s, {floor.done} done, "
          f"{len(floor.restarts)} restarts")
    found = detection(incident, floor)
    if found is None:
        print("incident: NOT DETECTED (no restart)")
    else:
        print(f"detection delay after onset: {found[0]} requests, {found[1]:.2f} s")
    print(f"incident: {incident.seconds:.2f} s, {incident.done} done, {incident.failed} failed "
          f"(goal 0), {len(incident.restarts)} restart(s)")
    print(f"throughput over the incident: {floor.seconds / incident.seconds:.2f} of the ideal "
          f"(the floor); without the monitor: {floor.seconds / unmonitored.seconds:.2f}")
    print(f"false restarts, noisy emulator run ({len(noisy.timings)} requests): "
          f"{len(noisy.restarts)} (goal 0)")
    print(f"false drifts, detector on 2000 noisy samples: {noisy_detector(2000, 10)} (goal 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
