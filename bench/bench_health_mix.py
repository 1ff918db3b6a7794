"""False restarts and detection over a mixed workload (issue #20).

The emulator runs in its own process with per-token costs and schema-constrained answers 5x
slower per token than free text (`--constrained-slowdown 5`), noisy; the restart command really
kills it and starts it again, with the GPU back. Runs of captions only, labels only, both, and
both from a `Type: generate` model (one schema-constrained request per photo) follow each
other, each with a fresh monitor on one health store (a `scan`, a daemon job after a reload),
every photo asked again, until N generate requests were answered:

- healthy: goal 0 restarts;
- GPU lost at request N/2 (size_vram 0, 8x slower): goal exactly 1 restart, with at most 10
  answers from the onset completed before it began.

Health keys are the defaults (Window 20, Drift 2, Interval 60 s, Cooldown 15 min) unless
given.

    .venv/bin/python -m bench.bench_health_mix [--requests 2000] [--window 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.daemon.helpers import MixedRuns, emulator_process, mixed_runs, photos
from xmpvision.config.daemon import HealthConfig

SERVER = ["--prefill", "0.00001", "--decode", "0.0002", "--constrained-slowdown", "5",
          "--noise", "0.2", "--outlier-rate", "0.01", "--seed", "20"]


def run(folder: Path, requests: int, window: int, extra: list[str]) -> tuple[MixedRuns, float]:
    work = Path(tempfile.mkdtemp(dir=folder))
    started = time.monotonic()
    with emulator_process(work, *SERVER, *extra) as ollama:
        health = HealthConfig.model_validate({
            "Window": window, "Restart": ollama.restart_command(*SERVER),
            "RestartTimeout": "30s"})
        runs = mixed_runs(ollama.url, work / "state.sqlite3", folder / "photos", health,
                          requests)
    return runs, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--window", type=int, default=20, help="Health.Window")
    parser.add_argument("--photos", type=int, default=25)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xmpvision-bench-mix-") as tmp:
        folder = Path(tmp)
        photos(folder / "photos", args.photos)
        healthy, seconds = run(folder, args.requests, args.window, [])
        kinds = {k: sum(1 for t in healthy.timings if t.kind == k) for k in ("text", "schema")}
        print(f"healthy: {len(healthy.timings)} requests ({kinds['text']} free text, "
              f"{kinds['schema']} schema-constrained, 5x slower per token), {healthy.done} "
              f"photo runs done, {healthy.failed} failed, {len(healthy.restarts)} restarts "
              f"(goal 0), {seconds:.0f} s")
        onset = args.requests // 2
        lost, seconds = run(folder, args.requests, args.window,
                            ["--lose-gpu-after", str(onset), "--gpu-slowdown", "8"])
        print(f"GPU lost at request {onset}: {len(lost.timings)} requests, {lost.failed} "
              f"failed, {len(lost.restarts)} restart(s) (goal 1), "
              f"{lost.answered_before_restart(onset)} answers from the onset before it began "
              f"(goal <= 10), "
              f"{seconds:.0f} s")
    ok = (not healthy.restarts and len(lost.restarts) == 1
          and lost.answered_before_restart(onset) <= 10)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
