"""GPU time of labels + caption as two requests per photo, against one `Type: generate`
request, on the same emulated server whose cost model charges each request what a GPU would
spend: every prompt token prefilled (an image is ~1,150 tokens for qwen2.5-vl at 720 px), every
answer token decoded (tests/ollama_server.py `GpuCost`). The real `xmpvision scan` runs as a
subprocess; the answers are the same words either way.

Reported: GPU-seconds per photo and photos/s for both, and their ratio (goal <= 0.6).

    .venv/bin/python -m bench.bench_generate [--photos 16] [--image-tokens 1150]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.bench_scaleout import small_photos
from bench.common import load_average, run_child, scan_command
from tests.ollama_server import GpuCost, OllamaServer, RecordedRequest, Reply

LABELS = [{"name": n, "confidence": c, "topicality": t} for n, c, t in (
    ("dog", 0.96, 0.9), ("beach", 0.9, 0.7), ("sand", 0.85, 0.5), ("sea", 0.82, 0.5),
    ("sunset", 0.8, 0.6), ("sky", 0.8, 0.3), ("wave", 0.7, 0.3), ("running", 0.7, 0.6))]
CAPTION = "A brown dog runs along a sandy beach at sunset."


def answer(request: RecordedRequest) -> Reply:
    body = request.body if isinstance(request.body, dict) else {}
    fmt = body.get("format")
    properties = fmt.get("properties", {}) if isinstance(fmt, dict) else {}
    if "caption" in properties:  # the combined request
        return Reply(json.dumps({"caption": CAPTION, "labels": LABELS}))
    if fmt:
        return Reply(json.dumps({"labels": LABELS}))
    return Reply(CAPTION)


def config(folder: Path, url: str, generate: bool) -> Path:
    service = f'Service: {{Uri: "{url}", Parallel: 8, Timeout: 120s}}'
    text = ("Models:\n"
            f"  - Type: labels\n    Model: qwen2.5vl\n    {service}\n"
            f"  - Type: caption\n    Model: qwen2.5vl\n    {service}\n")
    if generate:
        text += f"  - Type: generate\n    Model: qwen2.5vl\n    Types: [caption, labels]\n" \
                f"    {service}\n"
    path = folder / "vision.yml"
    path.write_text(text)
    return path


def run(count: int, cost: GpuCost, generate: bool) -> tuple[float, float, int]:
    """(GPU-seconds per photo, photos per second, requests per photo)."""
    photos = small_photos(count)
    with OllamaServer(models=["qwen2.5vl:latest"], parallel=8, cost=cost) as server, \
            tempfile.TemporaryDirectory() as work:
        server.respond(answer)
        started = time.monotonic()
        child = run_child(scan_command(str(photos), "--json", "--config",
                                       str(config(Path(work), server.url, generate)),
                                       "--state", f"{work}/state.db"))
        wall = time.monotonic() - started
        summary = json.loads(child.stdout.splitlines()[-1])["summary"]
        assert summary["done"] == count, child.stderr
        return (server.gpu_seconds / count, count / wall,
                len(server.generate_requests()) // count)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--image-tokens", type=int, default=1150)
    args = parser.parse_args()
    cost = GpuCost(image_tokens=args.image_tokens)
    print(f"{load_average()}; {args.photos} photos; image {cost.image_tokens} tokens, prefill "
          f"{cost.prefill * 1000:g} ms/token, decode {cost.decode * 1000:g} ms/token")
    gpu_two, rate_two, requests_two = run(args.photos, cost, generate=False)
    gpu_one, rate_one, requests_one = run(args.photos, cost, generate=True)
    ratio = gpu_one / gpu_two
    print(f"labels + caption, {requests_two} requests per photo: {gpu_two:.2f} GPU-s per photo, "
          f"{rate_two:.2f} photos/s")
    print(f"generate, {requests_one} request per photo: {gpu_one:.2f} GPU-s per photo, "
          f"{rate_one:.2f} photos/s")
    verdict = "OK" if ratio <= 0.6 else "ABOVE GOAL"
    print(f"ratio of GPU time: {ratio:.2f} (goal <= 0.6) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
