"""What the tests of both local classifier engines share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from xmpvision.engines.classifier.engine import Loaded, LocalClassifier


def classify_concurrently(engine: LocalClassifier[Any], images: list[Image.Image],
                          names: Callable[[list[Any]], list[str]]) -> list[list[str]]:
    """Classify `images` from one thread each, started together, with every model call slowed
    to a real model's time so that the workers' requests meet in the batcher."""
    engine.check_ready()
    ready: Loaded = engine._load()
    batcher = ready.batcher
    real = batcher._run

    def slow(batch: Any) -> Any:
        time.sleep(0.05)
        return real(batch)

    batcher._run = slow
    results: dict[int, list[str]] = {}
    start = threading.Barrier(len(images))

    def work(index: int) -> None:
        start.wait()
        results[index] = names(engine.classify(images[index]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[i] for i in range(len(images))]
