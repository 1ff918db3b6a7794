"""Throughput of `xmpvision scan` against the Ollama emulator (issue #5, benchmark 1).

The real CLI runs as a subprocess over N distinct copies of a 24 MP camera JPEG (7 MB,
quality 90, EXIF orientation 6); the emulator (latency L, parallel P) runs in a process of its
own so that it shares no GIL with the scan. One Ollama service with `Parallel: P`; captions
only (default) or labels + caption (`--types both`: two requests per photo).

A saturated emulator completes P/L requests per second: that is the ideal. Reported per run:
- pipeline rate: generate requests / (first request start .. last answer), from the emulator's
  clock: how well the scan keeps the service busy once it runs. Target: >= 0.95 of P/L;
- end-to-end rate: the same requests / the scan process's wall time (includes interpreter
  start, imports, config, state open and the readiness check);
- the emulator's own ceiling, measured in the same run: P client threads sending the same
  request body back to back with a bare httpx client (what any client could get).
Also: the most requests in flight at once (should be P), and the scan process's peak RSS per
photo count (flat: it must not grow with the number of photos).

The emulator runs with TCP_NODELAY, as Ollama (Go) does; `--nagle` runs it with Python's
default instead, where each answer can stall ~40 ms on Nagle + delayed ACK (see common.py).

    .venv/bin/python -m bench.bench_throughput [--photos 100 300] [--types caption|both]
        [--latency 0.5] [--parallel 4] [--repeat 3] [--nagle] [--auto]

Photos are cached under /tmp/xmpvision-bench-cache (about 7 MB each); every run removes the
sidecars it wrote and uses a fresh state database.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import threading
from pathlib import Path

from bench.common import (
    Emulator,
    ScanRun,
    camera_jpeg,
    clean_sidecars,
    load_average,
    photo_folder,
    run_child,
    scan_command,
    spread,
    write_config,
)

TARGET = 0.95


def emulator_ceiling(emulator: Emulator, requests: int) -> float:
    """Requests/s that P threads with a bare httpx client get from the emulator (same body)."""
    import httpx

    from xmpvision.prepare.images import PhotoImage

    with PhotoImage(camera_jpeg()) as photo:
        image = base64.b64encode(photo.jpeg(720)).decode("ascii")
    body = {"model": "gemma3", "prompt": "Describe the image.", "images": [image],
            "stream": True}
    per_thread = max(1, requests // emulator.parallel)

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            for _ in range(per_thread):
                with client.stream("POST", emulator.url + "/api/generate", json=body) as answer:
                    for _line in answer.iter_lines():
                        pass

    emulator.clear()
    threads = [threading.Thread(target=worker) for _ in range(emulator.parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = emulator.stats()
    return stats.requests / stats.window


def one_scan(emulator: Emulator, folder: Path, config: Path, work: Path, run: int
             ) -> tuple[ScanRun, float, int, int]:
    """One timed scan: (process measurements, pipeline rate, requests, max in flight)."""
    clean_sidecars(folder)
    state = work / f"state-{folder.name}-{run}.sqlite3"
    emulator.clear()
    result = run_child(scan_command("--config", str(config), "--state", str(state),
                                    str(folder)))
    if result.returncode != 0:
        raise RuntimeError(f"scan failed ({result.returncode}):\n{result.stderr[-2000:]}")
    stats = emulator.stats()
    return result, stats.requests / stats.window, stats.requests, stats.max_in_flight


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--types", choices=["caption", "both", "generate"], default="caption")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--auto", action="store_true",
                        help="the scan's Parallel left to auto (the default) instead of P")
    parser.add_argument("--nagle", action="store_true",
                        help="emulator without TCP_NODELAY (Python's default; see common.py)")
    args = parser.parse_args()

    per_photo = 2 if args.types == "both" else 1  # generate: one request for both
    print(f"photo: {camera_jpeg()} ({camera_jpeg().stat().st_size / 1e6:.1f} MB, 6000x4000)")
    print(load_average())
    ok = True
    with Emulator(latency=args.latency, parallel=args.parallel, nagle=args.nagle) as emulator, \
            tempfile.TemporaryDirectory(prefix="xmpvision-bench-throughput-") as tmp:
        work = Path(tmp)
        ideal = emulator.ideal_throughput()
        ceiling = emulator_ceiling(emulator, 16 * args.parallel)
        print(f"emulator: latency {args.latency} s, parallel {args.parallel}, TCP_NODELAY "
              f"{'off' if args.nagle else 'on'}: ideal "
              f"{ideal:.2f} requests/s; bare-client ceiling {ceiling:.2f} requests/s "
              f"({ceiling / ideal:.3f} of ideal)")
        print(f"types: {args.types} ({per_photo} request(s) per photo; ideal "
              f"{ideal / per_photo:.2f} photos/s)")
        config = write_config(work, emulator.url, types=args.types,
                              parallel="auto" if args.auto else args.parallel)
        print(f"scan: Parallel {'auto' if args.auto else args.parallel}")
        rss: dict[int, list[float]] = {}
        for count in args.photos:
            folder = photo_folder(count)
            rates: list[float] = []
            e2e: list[float] = []
            for run in range(args.repeat):
                result, rate, requests, in_flight = one_scan(emulator, folder, config, work, run)
                if requests != count * per_photo:
                    print(f"FAIL: {requests} requests for {count} photos")
                    ok = False
                rates.append(rate)
                e2e.append(requests / result.wall)
                rss.setdefault(count, []).append(result.max_rss_mib)
                print(f"  {count} photos, run {run + 1}: pipeline {rate:.3f} req/s "
                      f"({rate / ideal:.3f} of ideal), end-to-end {requests / result.wall:.3f} "
                      f"req/s ({result.wall:.2f} s wall, {result.cpu:.2f} s CPU), "
                      f"max in flight {in_flight}, peak RSS {result.max_rss_mib:.0f} MiB")
            best = max(rates)
            ratios = [r / ideal for r in rates]
            print(f"{count} photos: pipeline rate best {best:.3f} req/s = {best / ideal:.3f} of "
                  f"ideal (ratios {', '.join(f'{r:.3f}' for r in ratios)}; spread "
                  f"{(max(ratios) - min(ratios)) * 100:.1f} points); end-to-end best "
                  f"{max(e2e):.3f} req/s = {max(e2e) / ideal:.3f} of ideal")
            verdict = "OK" if best / ideal >= TARGET else "TOO SLOW"
            print(f"ratio: {best / ideal:.3f} (target >= {TARGET}) {verdict}")
            ok = ok and best / ideal >= TARGET
            clean_sidecars(folder)
        print("peak RSS of the scan process by photo count: " + "; ".join(
            f"{count}: {spread(values)} MiB" for count, values in rss.items()))
        if len(rss) > 1:
            low, high = min(rss), max(rss)
            growth = min(rss[high]) - min(rss[low])
            print(f"RSS growth from {low} to {high} photos: {growth:+.1f} MiB "
                  f"({'flat' if abs(growth) < 10 else 'GROWS'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
