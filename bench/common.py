"""Shared pieces of the benchmarks: a camera-sized test photo, the Ollama emulator in its own
process, a vision.yml for it, and running `xmpvision scan` as a timed subprocess.

The emulator (tests/ollama_server.py) is a Python HTTP server: run in the benchmark's own
process it would share a GIL with nothing we measure, but run in the same process as the scan it
would steal the scan's GIL; so it always runs here, in a child process of its own:

    .venv/bin/python -m bench.common serve --latency 0.5 --parallel 4

prints the server URL on stdout, then answers "stats" lines on stdin with a JSON line
(generate requests served, the most in flight at once, and when the first started and the last
finished), "clear" by resetting them; it exits when stdin closes.

TCP_NODELAY: Ollama is a Go program, and Go's net package sets TCP_NODELAY on every TCP
connection; Python's http.server does not by default, so the emulator sets it
(`disable_nagle_algorithm`). Without it the emulator's small writes (the response headers, then
the first NDJSON chunk) meet Nagle's algorithm and the client's delayed ACK: every answer stalls
~40 ms on Linux loopback while holding a server slot. `--nagle` turns it off again to show the
difference.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

REPO = Path(__file__).resolve().parent.parent

CACHE = Path(os.environ.get("XMPVISION_BENCH_CACHE", "/tmp/xmpvision-bench-cache"))
CAMERA_SIZE = (6000, 4000)  # 24 MP
CAMERA_QUALITY = 90
ORIENTATION = 6  # "rotate 90 CW": a portrait shot, so decoding also has to transpose


# --- the test photo ------------------------------------------------------------------------


def camera_jpeg() -> Path:
    """A realistic 24 MP camera JPEG (7 MB), made once and cached under CACHE.

    Smooth gradients (sky, walls) with a low-frequency texture and per-pixel sensor noise, so it
    compresses like a photo (5-10 MB at quality 90), not like a flat test card; EXIF with an
    orientation tag, as cameras write.
    """
    path = CACHE / "camera-24mp-q90.jpg"
    if path.exists():
        return path
    from PIL import Image, ImageChops

    width, height = CAMERA_SIZE
    resample = Image.Resampling.BILINEAR
    horizontal = Image.linear_gradient("L").rotate(90).resize((width, height), resample)
    vertical = Image.linear_gradient("L").resize((width, height), resample)
    radial = Image.radial_gradient("L").resize((width, height), resample)
    texture = Image.effect_noise((width // 16, height // 16), 60).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    noise = Image.effect_noise((width, height), 6)  # centred on 128
    channels = [
        ImageChops.add(ImageChops.add(base, texture, scale=2.0), noise, offset=-128)
        for base in (horizontal, vertical, radial)
    ]
    image = Image.merge("RGB", channels)
    exif = Image.Exif()
    exif[0x0112] = ORIENTATION
    exif[0x010F] = "BenchCam"  # Make
    exif[0x0110] = "BC-24"  # Model
    exif[0x0132] = "2024:06:01 12:00:00"  # DateTime
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=CAMERA_QUALITY, exif=exif)
    CACHE.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_bytes(buffer.getvalue())
    temp.replace(path)
    return path


def photo_folder(count: int) -> Path:
    """A folder of `count` distinct copies of the camera JPEG (cached; sidecars removed)."""
    source = camera_jpeg()
    folder = CACHE / f"photos-{count}"
    marker = folder / ".complete"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            target = folder / f"IMG_{index:05d}.jpg"
            if not target.exists():
                shutil.copyfile(source, target)  # a copy, not a link: distinct files
        marker.touch()
    clean_sidecars(folder)
    return folder


def clean_sidecars(folder: Path) -> None:
    for entry in os.scandir(folder):
        if entry.name.endswith((".xmp", ".xmpvision.tmp")):
            os.unlink(entry.path)


# --- the emulator in a child process -------------------------------------------------------


@dataclass(frozen=True)
class ServerStats:
    requests: int  # /api/generate answers produced
    max_in_flight: int
    first_start: float | None  # time.time() when the first counted request took its slot
    last_end: float | None  # time.time() when the last one had its answer

    @property
    def window(self) -> float:
        if self.first_start is None or self.last_end is None:
            return 0.0
        return self.last_end - self.first_start


class Emulator:
    """tests/ollama_server.OllamaServer running in a child process (see the module doc)."""

    def __init__(self, *, latency: float, parallel: int,
                 models: Sequence[str] = ("gemma3",), nagle: bool = False) -> None:
        self.latency = latency
        self.parallel = parallel
        self.nagle = nagle
        self.models = list(models)
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Self:
        command = [sys.executable, "-m", "bench.common", "serve",
                   "--latency", str(self.latency), "--parallel", str(self.parallel),
                   *(["--nagle"] if self.nagle else []),
                   *(arg for model in self.models for arg in ("--model", model))]
        self._process = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"emulator did not start: {self.url!r}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """End the emulator at once, as a crashed GPU box does (its connections reset)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def _ask(self, command: str) -> str:
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(command + "\n")
        process.stdin.flush()
        return process.stdout.readline()

    def stats(self) -> ServerStats:
        return ServerStats(**json.loads(self._ask("stats")))

    def clear(self) -> None:
        self._ask("clear")

    def ideal_throughput(self) -> float:
        return self.parallel / self.latency


def _serve(latency: float, parallel: int, models: list[str], nagle: bool) -> None:
    from tests import ollama_server
    from tests.ollama_server import (
        DEFAULT_CAPTION,
        DEFAULT_LABELS,
        OllamaServer,
        RecordedRequest,
        Reply,
        default_responder,
    )

    # The handler class of every server started below derives from _Handler.
    ollama_server._Handler.disable_nagle_algorithm = not nagle

    lock = threading.Lock()
    answered: list[float] = []  # time.time() at each answer: the end of its latency

    def responder(request: RecordedRequest) -> Reply:
        # Called as the request takes its slot; it is answered `latency` later. (Taken as the
        # end before, it shifted each server's window back by its latency: with one endpoint
        # 10x slower than three others, bench_scaleout's window grew by the difference and its
        # ratio fell from ~0.95 to ~0.82 with the same requests.)
        now = time.time() + latency
        with lock:
            answered.append(now)
        body = request.body if isinstance(request.body, dict) else {}
        fmt = body.get("format")
        if isinstance(fmt, dict) and "caption" in fmt.get("properties", {}):
            # A `Type: generate` request: caption and labels in one answer.
            labels = json.loads(DEFAULT_LABELS)["labels"]
            return Reply(json.dumps({"caption": DEFAULT_CAPTION, "labels": labels}))
        return default_responder(request)

    with OllamaServer(models=models, latency=latency, parallel=parallel) as server:
        server.respond(responder)
        print(server.url, flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                with lock:
                    times = list(answered)
                stats = {
                    "requests": len(times),
                    "max_in_flight": server.max_in_flight,
                    "first_start": min(times) - latency if times else None,
                    "last_end": max(times) if times else None,
                }
                print(json.dumps(stats), flush=True)
            elif command == "clear":
                with lock:
                    answered.clear()
                server.clear()
                print("{}", flush=True)


# --- config and the CLI --------------------------------------------------------------------


def write_config(folder: Path, url: str, *, types: str, parallel: int | str,
                 model: str = "gemma3") -> Path:
    """A vision.yml with one Ollama service; `types` "caption", "both" (labels + caption, two
    requests per photo) or "generate" (labels + caption in one request per photo).
    `parallel`: a number, or "auto".

    Without a labels model of its own, the built-in TensorFlow labels model is disabled, so no
    other model runs.
    """
    service = f'{{Uri: "{url}", Parallel: {parallel}}}'
    caption = f"  - Type: caption\n    Model: {model}\n    Service: {service}\n"
    if types == "both":
        labels = f"  - Type: labels\n    Model: {model}\n    Service: {service}\n"
    else:
        labels = "  - Type: labels\n    Default: true\n    Disabled: true\n"
    if types == "generate":
        caption = ("  - Type: caption\n    Default: true\n    Disabled: true\n"
                   f"  - Type: generate\n    Model: {model}\n    Types: [caption, labels]\n"
                   f"    Service: {service}\n")
    path = folder / "vision.yml"
    path.write_text("Models:\n" + labels + caption)
    return path


@dataclass(frozen=True)
class ScanRun:
    wall: float  # seconds, process start to exit
    cpu: float  # user + system seconds of the scan process (all its threads)
    max_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


# `python -m xmpvision` (runpy, as -m does), plus an exit hook that reports the process's peak
# RSS. wait4's ru_maxrss cannot be used: Linux starts a child's maxrss at the parent's RSS (the
# fork shares, and exec records, the parent's pages), so every child would report at least this
# benchmark's own size. VmHWM counts only the process image after exec.
_PEAK_RSS_TAG = "bench-peak-rss-kib"
_CLI_WITH_RSS = f"""\
import atexit, runpy, sys
def _report():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write("{_PEAK_RSS_TAG} " + line.split()[1] + "\\n")
atexit.register(_report)
sys.argv[0] = "xmpvision"
runpy.run_module("xmpvision", run_name="__main__", alter_sys=True)
"""


def scan_command(*args: str) -> list[str]:
    """`xmpvision scan ARGS` as `python -m xmpvision` runs it (see _CLI_WITH_RSS)."""
    return [sys.executable, "-c", _CLI_WITH_RSS, "scan", *args]


# The scan processes read compiled bytecode, as an installed package's do (its installer
# compiles it); with PYTHONDONTWRITEBYTECODE set, each would compile every module again.
BYTECODE = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(CACHE / "pycache")}


def run_child(command: list[str], *, env: dict[str, str] | None = None) -> ScanRun:
    """Run a command and measure it with wait4: wall time, CPU time and peak RSS of that child
    (which reads compiled bytecode: BYTECODE, unless `env` says otherwise)."""
    out = CACHE / f"child-{os.getpid()}.out"
    err = CACHE / f"child-{os.getpid()}.err"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as stdout, open(err, "w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr,
                                   env={**os.environ, **BYTECODE, **(env or {})})
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    text_out, text_err = out.read_text(), err.read_text()
    out.unlink()
    err.unlink()
    peak_kib = float(usage.ru_maxrss)  # KiB on Linux; an upper bound (see _CLI_WITH_RSS)
    for line in text_err.splitlines():
        if line.startswith(_PEAK_RSS_TAG):
            peak_kib = float(line.split()[1])
    return ScanRun(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mib=peak_kib / 1024,
        returncode=process.returncode,
        stdout=text_out,
        stderr=text_err,
    )


def self_max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spread(values: Sequence[float]) -> str:
    """"best 1.23 (median 1.25, worst 1.31, n=3)"-style summary, smaller is better."""
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    return f"best {ordered[0]:.4g}, median {median:.4g}, worst {ordered[-1]:.4g}, n={len(values)}"


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} CPUs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bench helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the Ollama emulator (see the module doc)")
    serve.add_argument("--latency", type=float, default=0.5)
    serve.add_argument("--parallel", type=int, default=4)
    serve.add_argument("--model", action="append", default=[])
    serve.add_argument("--nagle", action="store_true", help="leave TCP_NODELAY off")
    sub.add_parser("photo", help="make (or find) the cached camera JPEG and print its path")
    args = parser.parse_args(argv)
    if args.command == "serve":
        _serve(args.latency, args.parallel, args.model or ["gemma3"], args.nagle)
    else:
        path = camera_jpeg()
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
