"""Scale-out: one caption model on several Ollama endpoints (a `Uri` list), each an emulator in
a process of its own with latency L and Parallel P. The real `xmpvision scan` runs as a
subprocess over small photos (the client's decoding is not what is measured here).

Three runs, each reported as a ratio against the capacity measured in the same run:
1. 4 endpoints x P 2 at L 0.5 s: requests/s over the summed ideal (16/s). Target >= 0.95.
2. the same with one endpoint 10x slower: over the remaining capacity (three fast endpoints
   plus the slow one's tenth). Target >= 0.9.
3. one endpoint killed once it has answered a few requests: failed photos (goal 0) and the
   surviving endpoints' requests/s over their ideal. Target >= 0.9.

    .venv/bin/python -m bench.bench_scaleout [--photos 320]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from PIL import Image

from bench.common import CACHE, Emulator, ServerStats, load_average, run_child, scan_command

LATENCY = 0.5
PARALLEL = 2
ENDPOINTS = 4


def small_photos(count: int) -> Path:
    folder = CACHE / f"small-{count}"
    if not folder.exists():
        folder.mkdir(parents=True)
        for n in range(count):
            Image.new("RGB", (640, 480), (n % 256, (n * 7) % 256, 90)).save(
                folder / f"P{n:05d}.jpg", quality=85)
    for sidecar in folder.glob("*.xmp"):
        sidecar.unlink()
    return folder


def config(folder: Path, urls: list[str]) -> Path:
    listed = ", ".join(f'"{u}"' for u in urls)
    path = folder / "vision.yml"
    path.write_text(
        "Models:\n"
        "  - Type: caption\n    Model: gemma3\n"
        f"    Service: {{Uri: [{listed}], Parallel: {PARALLEL}, ConnectTimeout: 2s,"
        " Timeout: 60s}\n"
        "  - Type: labels\n    Default: true\n    Disabled: true\n"
    )
    return path


def rate(stats: list[ServerStats]) -> float:
    """Requests per second over the window in which any of the servers worked."""
    starts = [s.first_start for s in stats if s.first_start is not None]
    ends = [s.last_end for s in stats if s.last_end is not None]
    if not starts or not ends:
        return 0.0
    return sum(s.requests for s in stats) / (max(ends) - min(starts))


def run(photos: Path, latencies: list[float], *, kill_after: int | None = None) -> tuple[
        float, float, dict[str, int]]:
    """(measured requests/s, ideal requests/s of the servers that lasted, NDJSON summary)."""
    with ExitStack() as stack, tempfile.TemporaryDirectory() as work:
        servers = [stack.enter_context(Emulator(latency=lat, parallel=PARALLEL))
                   for lat in latencies]
        cfg = config(Path(work), [s.url for s in servers])
        killer = None
        if kill_after is not None:
            victim = servers[0]

            def kill() -> None:
                while victim.stats().requests < kill_after:
                    time.sleep(0.05)
                victim.kill()
            killer = threading.Thread(target=kill, daemon=True)
            killer.start()
        child = run_child(scan_command(str(photos), "--json", "--config", str(cfg),
                                       "--state", f"{work}/state.db"))
        if killer is not None:
            killer.join(timeout=10)
        survivors = servers[1:] if kill_after is not None else servers
        summary = json.loads(child.stdout.splitlines()[-1])["summary"]
        return (rate([s.stats() for s in survivors]),
                sum(PARALLEL / s.latency for s in survivors), summary)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--photos", type=int, default=320)
    args = parser.parse_args()
    photos = small_photos(args.photos)
    print(f"{load_average()}; {args.photos} photos; {ENDPOINTS} endpoints x "
          f"Parallel {PARALLEL} at L={LATENCY}s")
    ok = True

    measured, ideal, summary = run(photos, [LATENCY] * ENDPOINTS)
    ratio = measured / ideal
    ok &= ratio >= 0.95 and summary["failed"] == 0
    print(f"1. all healthy: {measured:.2f} req/s of {ideal:.2f} = {ratio:.3f} (target >= 0.95); "
          f"failed {summary['failed']}")

    photos = small_photos(args.photos)
    slow = [LATENCY * 10, *[LATENCY] * (ENDPOINTS - 1)]
    measured, ideal, summary = run(photos, slow)
    ratio = measured / ideal
    ok &= ratio >= 0.9 and summary["failed"] == 0
    print(f"2. one 10x slower: {measured:.2f} req/s of {ideal:.2f} remaining = {ratio:.3f} "
          f"(target >= 0.9); failed {summary['failed']}")

    photos = small_photos(args.photos)
    measured, ideal, summary = run(photos, [LATENCY] * ENDPOINTS, kill_after=8)
    ratio = measured / ideal
    ok &= ratio >= 0.9 and summary["failed"] == 0
    print(f"3. one killed mid-run: survivors {measured:.2f} req/s of {ideal:.2f} = {ratio:.3f} "
          f"(target >= 0.9); done {summary['done']}, failed {summary['failed']} (goal 0)")
    print("OK" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
