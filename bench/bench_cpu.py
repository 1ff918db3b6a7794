"""Client CPU per 24 MP JPEG: `xmpvision scan` against Pillow's draft-decode floor (issue #5,
benchmark 2).

The real CLI runs as a subprocess over N distinct copies of the camera JPEG (see common.py);
the Ollama emulator, with latency 0, runs in another process, so the scan's CPU time (user +
system of all its threads, from wait4) is only xmpvision's: decode, orient, resize, encode,
request, answer parsing, sidecar write and state. Per photo:
- marginal: (CPU of the scan of N photos - CPU of the same scan of an empty folder) / N, i.e.
  without the fixed cost of starting Python and importing (reported separately). Target:
  <= 1.5x the floor;
- total: CPU of the scan of N photos / N, start-up included.

The floor, measured in this run on the same files: Image.open + draft("RGB", size) + load,
with the size xmpvision asks for (longest side 720: 720x480, which draft serves at 1/8
scale). Also shown: the floor for a (720, 720) draft request, which the 6000x4000 file can
only serve at 1/4 scale (a costlier decode, so a laxer floor).

    .venv/bin/python -m bench.bench_cpu [--photos 100] [--types caption|both] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import (
    Emulator,
    camera_jpeg,
    clean_sidecars,
    load_average,
    photo_folder,
    run_child,
    scan_command,
    spread,
    write_config,
)

TARGET = 1.5
RESOLUTION = 720


def draft_floor(files: list[Path], size: tuple[int, int]) -> float:
    """CPU seconds of the cheapest decode of each file to at least `size` (mean over files)."""
    start = time.process_time()
    for path in files:
        with Image.open(path) as image:
            image.draft("RGB", size)
            image.load()
    return (time.process_time() - start) / len(files)


def scan_cpu(emulator: Emulator, folder: Path, config: Path, state: Path) -> float:
    clean_sidecars(folder)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    emulator.clear()
    result = run_child(scan_command("--config", str(config), "--state", str(state),
                                    str(folder)))
    if result.returncode != 0:
        raise RuntimeError(f"scan failed ({result.returncode}):\n{result.stderr[-2000:]}")
    clean_sidecars(folder)
    return result.cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--types", choices=["caption", "both"], default="caption")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    source = camera_jpeg()
    with Image.open(source) as image:
        width, height = image.size
    scale = RESOLUTION / max(width, height)
    target = (round(width * scale), round(height * scale))
    folder = photo_folder(args.photos)
    files = sorted(folder.glob("IMG_*.jpg"))
    print(f"photo: {source} ({source.stat().st_size / 1e6:.1f} MB, {width}x{height}); "
          f"{args.photos} copies; types: {args.types}")
    print(load_average())

    with Emulator(latency=0.0, parallel=4) as emulator, \
            tempfile.TemporaryDirectory(prefix="xmpvision-bench-cpu-") as tmp:
        work = Path(tmp)
        empty = work / "empty"
        empty.mkdir()
        config = write_config(work, emulator.url, types=args.types, parallel=4)
        state = work / "state.sqlite3"
        draft_floor(files[:5], target)  # warm up Pillow and the page cache
        scan_cpu(emulator, folder, config, state)  # warm up the interpreter's .pyc files
        floors: list[float] = []
        floors_square: list[float] = []
        totals: list[float] = []
        startups: list[float] = []
        for _ in range(args.repeat):
            floors.append(draft_floor(files, target))
            floors_square.append(draft_floor(files, (RESOLUTION, RESOLUTION)))
            startups.append(scan_cpu(emulator, empty, config, state))
            totals.append(scan_cpu(emulator, folder, config, state))
    floor = min(floors)
    startup = min(startups)
    marginal = [(total - startup) / args.photos for total in totals]
    per_photo = [total / args.photos for total in totals]
    ms = 1e3
    print(f"floor: draft {target[0]}x{target[1]} + load: {floor * ms:.1f} ms CPU per photo "
          f"({spread([f * ms for f in floors])} ms)")
    print(f"       draft {RESOLUTION}x{RESOLUTION} + load: {min(floors_square) * ms:.1f} ms "
          f"({spread([f * ms for f in floors_square])} ms)")
    print(f"scan start-up (empty folder): {startup:.2f} s CPU ({spread(startups)} s)")
    print(f"scan of {args.photos} photos: {spread(totals)} s CPU")
    best = min(marginal)
    print(f"xmpvision per photo, marginal: {best * ms:.1f} ms CPU "
          f"({spread([m * ms for m in marginal])} ms); with start-up: "
          f"{min(per_photo) * ms:.1f} ms")
    ratio = best / floor
    print(f"ratio to the {target[0]}x{target[1]} floor: {ratio:.2f} (target <= {TARGET}) "
          f"{'OK' if ratio <= TARGET else 'TOO SLOW'}; with start-up "
          f"{min(per_photo) / floor:.2f}; to the {RESOLUTION}x{RESOLUTION} floor "
          f"{best / min(floors_square):.2f}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
