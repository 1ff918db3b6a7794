"""SIGKILL at random moments: a sidecar is always the old or the new version, never partial."""

from __future__ import annotations

import mmap
import os
import random
import shutil
import signal
import struct
import time
from pathlib import Path

from tests.sidecar.sidecar_helpers import FIXTURES, NOW, exempi_parses, result
from xmpvision.results import PhotoResult
from xmpvision.sidecar import read_sidecar, update_sidecar

KILLS = 220
WRITES = 220
RESULTS: tuple[PhotoResult, PhotoResult] = (
    result(["dog", "ball", "grass"], "A dog chases a ball across the grass. " * 20),
    result(["cat", "sofa"], "A cat sleeps on a sofa."),
)


def _writer(photo: Path, counter: mmap.mmap) -> None:
    """Child body: alternate the two results forever, counting completed writes."""
    n = 0
    while True:
        update_sidecar(photo, RESULTS[n % 2], force=True, now=NOW)
        n += 1
        counter.seek(0)
        counter.write(struct.pack("Q", struct.unpack("Q", counter[:8])[0] + 1))


def _count(counter: mmap.mmap) -> int:
    value: int = struct.unpack("Q", counter[:8])[0]
    return value


def _versions(tmp_path: Path) -> set[bytes]:
    """Every state the alternating writes can leave, computed in-process beforehand."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    photo = scratch / "IMG_9.CR2"
    photo.write_bytes(b"raw")
    shutil.copy(FIXTURES / "darktable.CR2.xmp", scratch / "IMG_9.CR2.xmp")
    versions = {(scratch / "IMG_9.CR2.xmp").read_bytes()}
    for n in range(6):
        versions.add(update_sidecar(photo, RESULTS[n % 2], force=True, now=NOW).path.read_bytes())
    return versions


def test_sigkill_never_leaves_a_partial_sidecar(tmp_path: Path) -> None:
    valid = _versions(tmp_path)
    assert len(valid) <= 4  # the alternation reaches two fixed states after the first writes
    photo = tmp_path / "IMG_9.CR2"
    photo.write_bytes(b"raw")
    sidecar = tmp_path / "IMG_9.CR2.xmp"
    shutil.copy(FIXTURES / "darktable.CR2.xmp", sidecar)
    counter = mmap.mmap(-1, 8)
    rng = random.Random(4)
    seen: set[bytes] = set()
    kills = 0
    # Kill until both counts are reached, so that a slow, busy machine changes the duration
    # but not what is exercised; the ceiling only stops a writer that makes no progress.
    while kills < KILLS or _count(counter) < WRITES:
        assert kills < 20 * KILLS, f"writer made no progress: {_count(counter)} writes"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                _writer(photo, counter)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.025))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        data = sidecar.read_bytes()
        assert data in valid, "partial or unexpected sidecar after SIGKILL"
        seen.add(data)
    assert len(seen) >= 2  # kills landed after both kinds of write
    assert exempi_parses(sidecar)
    # A crash may leave our temp file behind; the next write replaces and removes it.
    update_sidecar(photo, RESULTS[0], force=True, now=NOW)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "scratch") == [
        "IMG_9.CR2", "IMG_9.CR2.xmp"]
    assert read_sidecar(sidecar).subjects[:2] == ("sunset", "harbour")
