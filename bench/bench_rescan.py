"""No-op rescan of an unchanged library vs `find -printf '%s %T@'` on the same tree.

Builds (or reuses) a tree of N tiny .jpg files (100 per folder, folders nested three levels),
populates a state database with a first scan, then times the no-op rescan: open the state,
discover every photo, classify it and ask whether "labels" and "caption" are needed (what
`xmpvision scan` does for an unchanged library before any model runs). Best of 3 for both,
warm cache. Target: ratio <= 3.0.

    /work/venv/bin/python bench/bench_rescan.py [--files N] [--dir DIR] [--repeat R]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xmpvision.library import Photo, discover
from xmpvision.state import FileStatus, StateDB

FILES_PER_DIR = 100
TYPES = ("labels", "caption")


def build_tree(root: Path, files: int) -> None:
    """N files in nested folders; reused when a previous run left a complete tree."""
    marker = root / f".complete-{files}"
    if marker.exists():
        return
    folders = max(1, -(-files // FILES_PER_DIR))
    made = 0
    for index in range(folders):
        folder = root / f"y{index // 100:03d}" / f"m{(index // 10) % 10:02d}" / f"d{index:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(min(FILES_PER_DIR, files - made)):
            (folder / f"IMG_{n:04d}.jpg").write_bytes(b"\xff\xd8" + index.to_bytes(4) + bytes([n]))
            made += 1
    marker.touch()  # hidden: discovery skips it, find counts one extra file (negligible)


def scan(root: Path, state_path: Path) -> dict[str, int]:
    """Everything `scan` does for an unchanged library: discover, classify, ask per type."""
    counts = {status.value: 0 for status in FileStatus} | {"needed": 0, "errors": 0}
    with StateDB.open(state_path) as state:
        for item in discover([root]):
            if type(item) is not Photo:
                counts["errors"] += 1
                continue
            plan = state.plan(item, TYPES)
            counts[plan.status.value] += 1
            counts["needed"] += len(plan.todo)
    return counts


def mark_all_done(root: Path, state_path: Path) -> float:
    """Mark every type done through the public API (one commit per call); seconds per call."""
    calls = 0
    start = time.perf_counter()
    with StateDB.open(state_path) as state:
        for item in discover([root]):
            if type(item) is Photo:
                state.classify(item)
                for type_ in TYPES:
                    state.mark_done(item, type_, model="bench", source="ollama")
                    calls += 1
    return (time.perf_counter() - start) / max(calls, 1)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_find(root: Path) -> None:
    subprocess.run(
        ["find", str(root), "-type", "f", "-printf", "%s %T@\n"],
        stdout=subprocess.DEVNULL,
        check=True,
    )


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "xmpvision-bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    root = args.dir / f"tree-{args.files}"
    state_path = args.dir / f"state-{args.files}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_path}{suffix}").unlink(missing_ok=True)

    start = time.perf_counter()
    build_tree(root, args.files)
    print(f"tree: {root} ({args.files} files) ready in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    first = scan(root, state_path)
    print(f"first scan: {time.perf_counter() - start:.2f} s {first}")
    per_mark = mark_all_done(root, state_path)
    print(f"mark_done: {per_mark * 1e6:.0f} us per call (commit included)")
    rss_before = max_rss_mib()

    counts = scan(root, state_path)  # warm the cache for both contenders
    if counts["unchanged"] != args.files or counts["needed"] != 0:
        print(f"FAIL: rescan was not a no-op: {counts}")
        return 1
    run_find(root)

    t_scan = best_of(args.repeat, lambda: scan(root, state_path))
    t_find = best_of(args.repeat, lambda: run_find(root))
    ratio = t_scan / t_find
    print(f"no-op rescan: {t_scan:.3f} s ({t_scan / args.files * 1e6:.2f} us/file)")
    print(f"find -printf: {t_find:.3f} s")
    print(f"ratio: {ratio:.2f} (target <= 3.0) {'OK' if ratio <= 3.0 else 'TOO SLOW'}")
    print(f"peak RSS: {max_rss_mib():.1f} MiB (after setup: {rss_before:.1f} MiB)")
    size = sum(Path(f"{state_path}{s}").stat().st_size for s in ("", "-wal")
               if Path(f"{state_path}{s}").exists())
    print(f"state database: {size / 1e6:.1f} MB")
    return 0 if ratio <= 3.0 else 1


if __name__ == "__main__":
    sys.exit(main())
