"""Outage: a labels model on an Ollama that wedges (accepts requests, never answers) after 50
requests, read timeout 2 s, with a second, slower model as its fallback; optionally the
wedged server comes back mid-run. The real `xmpvision scan` runs as a subprocess; both
servers are emulators in this process.

Reported: seconds lost to the dead endpoint (the breaker's own count), photos answered by each
model, how long after coming back the server got work again, and the run's wall time against
its floor measured in the same run: the time the two servers need for the photos each
answered, at their ideal throughput. Without a breaker every photo after the wedge would
cost one read timeout; that estimate is printed beside it.

    .venv/bin/python -m bench.bench_outage [--photos 1000] [--back-after 500]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from bench.bench_scaleout import small_photos
from bench.common import load_average, run_child, scan_command
from tests.ollama_server import OllamaServer, RecordedRequest, Reply

TIMEOUT = 2.0
WEDGE_AFTER = 50
PRIMARY_LATENCY = 0.05  # a GPU answering labels
FALLBACK_LATENCY = 0.1  # a CPU classifier
PARALLEL = 2
OPEN = 5.0  # Fallback.Open for the bench: one probe period
FAILURES = 3  # Fallback.Failures' default


def labels(name: str) -> str:
    return json.dumps({"labels": [{"name": name, "confidence": 0.9, "topicality": 0.9}]})


def config(folder: Path, primary: str, fallback: str) -> Path:
    path = folder / "vision.yml"
    path.write_text(
        "Models:\n"
        "  - Type: labels\n    Default: true\n    Disabled: true\n"
        "  - Type: caption\n    Default: true\n    Disabled: true\n"
        "  - Type: labels\n    Model: fallback\n"
        f"    Service: {{Uri: \"{fallback}\", Parallel: {PARALLEL}, Timeout: 30s}}\n"
        "  - Type: labels\n    Model: primary\n"
        f"    Service: {{Uri: \"{primary}\", Parallel: {PARALLEL}, Timeout: {TIMEOUT:g}s}}\n"
        f"Fallback: {{Open: {OPEN:g}s}}\n"
    )
    return path


def run(photos: int, back_after: int | None) -> bool:
    folder = small_photos(photos)
    primary = OllamaServer(models=["primary:latest"], latency=PRIMARY_LATENCY,
                           parallel=PARALLEL).start()
    fallback = OllamaServer(models=["fallback:latest"], latency=FALLBACK_LATENCY,
                            parallel=PARALLEL).start()
    back_at: list[float] = []
    primary_times: list[float] = []

    def on_primary(request: RecordedRequest) -> Reply:
        primary_times.append(time.monotonic())
        return Reply(labels("primary"))

    def on_fallback(request: RecordedRequest) -> Reply:
        if back_after is not None and not back_at and (
                len(fallback.generate_requests()) >= back_after - WEDGE_AFTER):
            back_at.append(time.monotonic())
            primary.unwedge()
        return Reply(labels("fallback"))

    primary.respond(on_primary)
    fallback.respond(on_fallback)
    primary.wedge(after=WEDGE_AFTER)
    try:
        with tempfile.TemporaryDirectory() as work:
            child = run_child(scan_command(
                str(folder), "--json", "-v", "--config", str(config(Path(work), primary.url,
                                                                fallback.url)),
                "--state", f"{work}/state.db"))
    finally:
        primary.stop()
        fallback.stop()
    summary = json.loads(child.stdout.splitlines()[-1])["summary"]
    counts: dict[str, int] = {}
    for line in child.stdout.splitlines()[:-1]:
        model = json.loads(line)["models"].get("labels", "none")
        counts[model] = counts.get(model, 0) + 1
    lost = sum(s["lost_seconds"] for s in summary["services"])
    floor = (counts.get("ollama:primary:latest", 0) * PRIMARY_LATENCY
             + counts.get("ollama:fallback:latest", 0) * FALLBACK_LATENCY) / PARALLEL
    wedged_photos = counts.get("ollama:fallback:latest", 0)
    print(f"  wall {child.wall:.1f} s, floor {floor:.1f} s: ratio {child.wall / floor:.2f}; "
          f"done {summary['done']}, failed {summary['failed']}")
    print(f"  answered by: {', '.join(f'{m} {n}' for m, n in sorted(counts.items()))}")
    print(f"  lost to the dead endpoint: {lost:.1f} s ({lost / TIMEOUT:.1f} timeouts); "
          f"wedged requests {primary.wedged_requests}; "
          f"without a breaker ~{wedged_photos * TIMEOUT / PARALLEL:.0f} s")
    # The bound: the failures that open it (plus the requests already in flight beside them),
    # and one trial per probe period.
    periods = [float(p) for p in re.findall(r"not asked for (\d+)s", child.stderr)]
    bound = (FAILURES + PARALLEL - 1 + max(0, len(periods) - 1)) * TIMEOUT
    print(f"  bound: {bound:.0f} s ({FAILURES} failures + {PARALLEL - 1} in flight + "
          f"{max(0, len(periods) - 1)} trials, one per probe period, each one timeout)")
    # Each timeout takes a little longer than the timeout itself (connect, teardown).
    ok = bool(summary["failed"] == 0 and lost <= bound * 1.05)
    if back_at:
        again = [t for t in primary_times if t > back_at[0]]
        delay = again[0] - back_at[0] if again else float("inf")
        # The period in force when it came back: it doubles with every failed trial.
        period = max(periods, default=OPEN)
        print(f"  back mid-run: asked again {delay:.1f} s after it came back "
              f"(probe periods {', '.join(f'{p:g}' for p in periods)} s)")
        ok = ok and delay <= period + 1
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--back-after", type=int, default=500)
    args = parser.parse_args()
    print(f"{load_average()}; {args.photos} photos; wedged after {WEDGE_AFTER} requests, "
          f"read timeout {TIMEOUT:g} s")
    print("1. wedged for the rest of the run:")
    ok = run(args.photos, None)
    print(f"2. back after {args.back_after} photos:")
    ok &= run(args.photos, args.back_after)
    print("OK" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

