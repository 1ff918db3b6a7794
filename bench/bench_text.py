"""Text passes are linear in the answer's length, on hostile answers too.

A model's answer is untrusted: runs of markup that never close ("*a *a *a ..."), unclosed
reasoning tags, thousands of unclosed brackets, runs of full stops. Each case is cleaned at
n and at 2n characters (n = 120,000 by default, the 262,144-character answer cap is reached at
2n); the ratio of the two times must stay <= 2.5 (linear, with slack for noise), where a
quadratic pass gives ~4.

    .venv/bin/python -m bench.bench_text [--size 120000]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

from xmpvision.errors import InvalidPayload
from xmpvision.text.answers import find_json, strip_reasoning, unwrap_caption
from xmpvision.text.captions import clean_caption
from xmpvision.text.labels import normalize_labels

TARGET = 2.5

CASES: dict[str, Callable[[int], str]] = {
    "unclosed *italic": lambda n: "A dog " + "*a " * (n // 3),
    "unclosed _italic": lambda n: "A dog " + "_a " * (n // 3),
    "unclosed **bold": lambda n: "A dog " + "**a " * (n // 4),
    "unclosed [link": lambda n: "A dog " + "[a " * (n // 3),
    "unclosed <think>": lambda n: "A dog. " + "<think>a " * (n // 9),
    "full stops": lambda n: "A dog" + "." * n + " x",
    "lower-case sentences": lambda n: "a. " * (n // 3),
    "title lines": lambda n: "# T\n" * (n // 4) + "A dog.",
    "unclosed brackets": lambda n: "[" * n,
}


def _caption(text: str) -> None:
    with contextlib.suppress(InvalidPayload):
        clean_caption(text)


def _labels(text: str) -> None:
    with contextlib.suppress(ValueError):
        find_json(text)
    normalize_labels([text[:2000], "dog"], source="ollama", model="m", engine="ollama",
                     confidence_threshold=10, topicality_threshold=0, max_labels=10,
                     mode="phrase")


PASSES: dict[str, Callable[[str], object]] = {
    "clean_caption": _caption,
    "strip_reasoning": strip_reasoning,
    "unwrap_caption": unwrap_caption,
    "find_json+labels": _labels,
}


def seconds(run: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        run(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=120_000)
    args = parser.parse_args()
    worst = 0.0
    for case, make in CASES.items():
        small, large = make(args.size), make(2 * args.size)
        for name, run in PASSES.items():
            t1, t2 = seconds(run, small), seconds(run, large)
            # Below a millisecond the ratio is noise: count it as linear.
            ratio = t2 / t1 if t1 > 1e-3 else 1.0
            worst = max(worst, ratio)
            print(f"{case:22} {name:17} n: {t1 * 1000:8.2f} ms  2n: {t2 * 1000:8.2f} ms  "
                  f"ratio {ratio:4.2f}")
    verdict = "OK" if worst <= TARGET else "TOO SLOW"
    print(f"worst ratio 2n/n: {worst:.2f} (target <= {TARGET}) {verdict}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
