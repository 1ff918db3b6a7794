"""What the server said about its own time on the last answer a thread received (Ollama's
final-chunk durations), and when that answer began to arrive, for the limiter of its service's
slots (chain/limit.py). Per thread: the worker that holds the slot is the one that asked."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

NS = 1e-9

_last = threading.local()


@dataclass(frozen=True, slots=True)
class Served:
    service: float  # seconds the model worked on it (prompt evaluation + generation)
    queued: float  # seconds it waited on the server for a free slot of the model
    # seconds per generated token: the model's speed whatever the answer's length (a GPU that
    # batches more requests at once answers each more slowly); None when not said
    per_token: float | None = None


def record(total: int | None, load: int | None, prompt: int | None, generated: int | None,
           tokens: int | None = None) -> None:
    """Ollama's durations (nanoseconds) and answer tokens. Ollama starts `total_duration` when
    the request arrives and `load_duration` ends when the model is loaded; a request queued for
    one of the model's parallel slots waits after that, so what the model did not spend of the
    rest is the queue. An answer without all four durations says nothing."""
    if total is None or load is None or prompt is None or generated is None:
        _last.served = None
        return
    service = (prompt + generated) * NS
    per_token = generated * NS / tokens if tokens else None
    _last.served = Served(service, max(0.0, total * NS - load * NS - service), per_token)


def take() -> Served | None:
    """The timings recorded by this thread since the last take, once."""
    served: Served | None = getattr(_last, "served", None)
    _last.served = None
    return served


def on_start(callback: Callable[[], None] | None) -> None:
    """What this thread's next `started()` calls, once (None: nothing)."""
    _last.on_start = callback


def started() -> None:
    """A streamed answer's first part arrived: the server has the model loaded, gave the
    request a slot and evaluated its prompt (Ollama and OpenAI-compatible servers send
    nothing before the first generated token)."""
    callback: Callable[[], None] | None = getattr(_last, "on_start", None)
    if callback is not None:
        _last.on_start = None
        callback()
