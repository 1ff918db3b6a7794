"""Answer tokens and GPU time per photo: labels, caption and title as one request each, against
one `Type: generate` request, on the same emulated server whose cost model charges each request
what a GPU would spend: every prompt token prefilled (an image is ~1,150 tokens for qwen2.5-vl
at 720 px), every answer token decoded (tests/ollama_server.py `GpuCost`). The real
`xmpvision scan` runs as a subprocess.

The emulated model follows the schema it is sent, as Ollama's structured outputs make a model
do: the same labels (names, confidences, topicalities), caption and title, written in the shape
the request asks for (PhotoPrism's label objects, or compact "name:confidence" strings).
`--baseline REV` runs the same scans from a checkout of REV too (`git archive`), so the answer
tokens of that revision's questions are measured against this tree's: before -> after. The
keywords, confidences (to the whole percent the thresholds use), captions and titles written
are compared between the two.

Reported: answer tokens per photo per request kind (the emulator's count, which is what it
reports as eval_count; this tree's own `answer_tokens` summary is checked against it),
GPU-seconds per photo, photos/s, and the GPU ratio of generate to per-type requests
(goal <= 0.5 against the per-type requests of the baseline, i.e. today's).

    .venv/bin/python -m bench.bench_generate [--photos 16] [--image-tokens 1150]
        [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_scaleout import small_photos
from bench.common import REPO, load_average
from tests.ollama_server import GpuCost, OllamaServer, RecordedRequest, Reply

LABELS = (("dog", 0.96, 0.9), ("beach", 0.9, 0.7), ("sand", 0.85, 0.5), ("sea", 0.82, 0.5),
          ("sunset", 0.8, 0.6), ("sky", 0.8, 0.3), ("wave", 0.7, 0.3), ("running", 0.7, 0.6))
CAPTION = "A brown dog runs along a sandy beach at sunset."
TITLE = "Dog Running on the Beach at Sunset"


def labels_in(items: dict[str, Any], prompt: str) -> list[Any]:
    """The labels as the schema's items (and, for strings, the prompt) ask for them."""
    if items.get("type") == "object":
        return [{"name": n, "confidence": c, "topicality": t} for n, c, t in LABELS]
    if "name:confidence:topicality" in prompt:
        return [f"{n}:{round(c * 100)}:{round(t * 100)}" for n, c, t in LABELS]
    return [f"{n}:{round(c * 100)}" for n, c, _ in LABELS]


def kind_of(body: dict[str, Any]) -> str:
    fmt = body.get("format")
    properties = fmt.get("properties", {}) if isinstance(fmt, dict) else {}
    if len(properties) > 1:
        return "generate"
    if properties:
        return "labels"
    return "title" if "title" in str(body.get("system", "")).lower() else "caption"


def answer_text(body: dict[str, Any]) -> str:
    """What a model that follows its schema writes: the schema's fields, in its order."""
    kind = kind_of(body)
    if kind == "caption":
        return CAPTION
    if kind == "title":
        return TITLE
    fields = {"caption": CAPTION, "title": TITLE}
    prompt = str(body.get("prompt", ""))
    answer = {name: labels_in(schema.get("items", {}), prompt) if name == "labels"
              else fields[name] for name, schema in body["format"]["properties"].items()}
    return json.dumps(answer)


@dataclass
class Tokens:
    """The answer tokens the emulator counted (its eval_count), per request kind."""

    by_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        reply = Reply(answer_text(body))
        _, tokens = GpuCost().tokens(body, reply)
        with self.lock:
            self.by_kind[kind_of(body)].append(tokens)
        return reply

    def per_request(self, kind: str) -> float | None:
        counted = self.by_kind.get(kind)
        return sum(counted) / len(counted) if counted else None


def config(folder: Path, url: str, types: list[str], generate: bool, topicality: int) -> Path:
    service = f'Service: {{Uri: "{url}", Parallel: 8, Timeout: 120s}}'
    text = f"Thresholds: {{Topicality: {topicality}}}\nModels:\n"
    for kind in ("labels", "caption", "title"):
        if kind in types:
            text += f"  - Type: {kind}\n    Model: qwen2.5vl\n    Run: auto\n    {service}\n"
        elif kind == "labels":
            text += "  - Type: labels\n    Default: true\n    Disabled: true\n"
    if generate:
        text += (f"  - Type: generate\n    Model: qwen2.5vl\n    Types: [{', '.join(types)}]\n"
                 f"    {service}\n")
    path = folder / "vision.yml"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Run:
    gpu: float  # GPU-seconds per photo
    rate: float  # photos per second
    tokens: Tokens
    written: dict[str, Any]  # file name -> what was written for it
    summary: dict[str, Any]


def written(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per photo: the keywords with their confidence in whole percent, the caption, the title."""
    return {Path(r["path"]).name: (
        sorted((x["name"], round(x["confidence"] * 100)) for x in r["labels"]),
        r["caption"], r["title"]) for r in records}


def run(code: Path, count: int, cost: GpuCost, types: list[str], generate: bool,
        topicality: int) -> Run:
    """One scan of `count` photos by the xmpvision in `code`, per type or with generate."""
    photos = small_photos(count)
    tokens = Tokens()
    with OllamaServer(models=["qwen2.5vl:latest"], parallel=8, cost=cost) as server, \
            tempfile.TemporaryDirectory() as work:
        server.respond(tokens.answer)
        started = time.monotonic()
        child = subprocess.run(
            [sys.executable, "-m", "xmpvision", "scan", str(photos), "--json", "--config",
             str(config(Path(work), server.url, types, generate, topicality)), "--state",
             f"{work}/state.db"],
            cwd=code, capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONPATH": str(code)})
        wall = time.monotonic() - started
        lines = [json.loads(line) for line in child.stdout.splitlines()]
        if not lines or "summary" not in lines[-1]:
            raise SystemExit(f"scan failed ({child.returncode}): {child.stderr[-2000:]}")
        summary = lines[-1]["summary"]
        assert summary["done"] == count, child.stderr
        return Run(server.gpu_seconds / count, count / wall, tokens, written(lines[:-1]),
                   summary)


def checkout(revision: str, into: Path) -> Path:
    """The tree of `revision` (git archive), to run its xmpvision."""
    archive = subprocess.run(["git", "archive", "--format=tar", revision, "xmpvision"],
                             cwd=REPO, capture_output=True, check=True).stdout
    tar = into / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as opened:
        opened.extractall(into, filter="data")
    return into


def check_own_count(result: Run) -> None:
    """This tree's summary says the same answer tokens as the emulator counted."""
    kinds = result.summary["answer_tokens"]["kinds"]
    for kind, counted in result.tokens.by_kind.items():
        assert kinds[kind]["tokens"] == sum(counted), (kind, kinds[kind], sum(counted))


def show(label: str, runs: dict[str, Run]) -> None:
    per_type, generate = runs["per-type"], runs["generate"]
    print(f"{label}: per-type requests {per_type.gpu:.2f} GPU-s per photo, "
          f"{per_type.rate:.2f} photos/s; generate {generate.gpu:.2f} GPU-s per photo, "
          f"{generate.rate:.2f} photos/s; ratio {generate.gpu / per_type.gpu:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--image-tokens", type=int, default=1150)
    parser.add_argument("--types", default="caption,labels,title",
                        help="the types asked, per type or in one generate request")
    parser.add_argument("--topicality", type=int, default=0,
                        help="Thresholds.Topicality (labels then carry a topicality)")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run the xmpvision of this git revision: before -> after")
    args = parser.parse_args()
    cost = GpuCost(image_tokens=args.image_tokens)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    print(f"{load_average()}; {args.photos} photos; {', '.join(types)}; Topicality "
          f"{args.topicality}; image "
          f"{cost.image_tokens} tokens, prefill {cost.prefill * 1000:g} ms/token, decode "
          f"{cost.decode * 1000:g} ms/token")
    trees = {"after": REPO}
    with tempfile.TemporaryDirectory() as base:
        if args.baseline:
            trees = {"before": checkout(args.baseline, Path(base)), **trees}
        results = {name: {mode: run(code, args.photos, cost, types, mode == "generate",
                                    args.topicality)
                          for mode in ("per-type", "generate")}
                   for name, code in trees.items()}
    for runs in results.values():
        for result in runs.values():
            if result is not runs["per-type"]:
                assert result.written == runs["per-type"].written, "generate wrote otherwise"
    for result in results["after"].values():
        check_own_count(result)

    print("answer tokens per request (per photo):")
    for kind in (*types, "generate"):
        mode = "generate" if kind == "generate" else "per-type"
        counts = [results[name][mode].tokens.per_request(kind) for name in results]
        shown = " -> ".join(f"{c:.1f}" if c is not None else "-" for c in counts)
        first, last = counts[0], counts[-1]
        change = f" ({last / first:.2f}x)" if len(counts) == 2 and first and last else ""
        print(f"  {kind:9} {shown}{change}")
    for name, runs in results.items():
        show(name, runs)
    after = results["after"]["generate"].gpu
    if "before" in results:
        before = results["before"]
        same = before["per-type"].written == results["after"]["per-type"].written
        print(f"keywords, confidences (whole percent), captions and titles the same before "
              f"and after: {'yes' if same else 'NO'}")
        gpu_ratio = after / before["per-type"].gpu
        verdict = "OK" if gpu_ratio <= 0.5 else "ABOVE GOAL"
        print(f"generate after vs per-type before: {gpu_ratio:.2f} of the GPU time "
              f"(goal <= 0.5) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
