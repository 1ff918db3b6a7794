"""What one answer of Ollama says about its speed, handed to whoever watches the service (the
health monitor). Ollama's own counters are preferred: tokens per second do not depend on the
size of the image or the length of the answer, wall time does. Prefill (the prompt and image)
and decode (the answer) are told apart, and so is the answer's kind: a schema-constrained
(`format`) answer is decoded several times slower per token than free text, so each kind has a
speed of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xmpvision.engines.ollama.api import GenerateChunk

NS = 1e-9


@dataclass(frozen=True, slots=True)
class Timing:
    service: str  # the base URL of the Ollama service
    model: str  # name:tag
    started: float  # time.monotonic() when the request was sent
    wall: float  # seconds until the final chunk
    prompt_eval_count: int | None = None
    prompt_eval_duration: float | None = None  # seconds
    eval_count: int | None = None
    eval_duration: float | None = None  # seconds
    constrained: bool = False  # the request carried a `format` (JSON or a schema)

    @classmethod
    def of(cls, service: str, model: str, started: float, wall: float,
           chunk: GenerateChunk, *, constrained: bool = False) -> Timing:
        return cls(
            service, model, started, wall,
            prompt_eval_count=chunk.prompt_eval_count,
            prompt_eval_duration=_seconds(chunk.prompt_eval_duration),
            eval_count=chunk.eval_count,
            eval_duration=_seconds(chunk.eval_duration),
            constrained=constrained,
        )

    @property
    def kind(self) -> str:
        """The answer kind a speed is compared within: "schema" or "text"."""
        return "schema" if self.constrained else "text"

    def phases(self) -> list[tuple[str, float]]:
        """Per-token speeds, higher is faster, each phase on its own: ("decode", generated
        tokens/s) and ("prefill", prompt tokens/s) where Ollama counted them (its timing
        fields are omitempty), else [("wall", requests/s)]."""
        found: list[tuple[str, float]] = []
        if self.eval_count and self.eval_duration:
            found.append(("decode", self.eval_count / self.eval_duration))
        if self.prompt_eval_count and self.prompt_eval_duration:
            found.append(("prefill", self.prompt_eval_count / self.prompt_eval_duration))
        return found or [("wall", 1.0 / max(self.wall, 1e-6))]

    def speed(self) -> tuple[str, float]:
        """(metric, value), higher is faster: generated tokens per second when Ollama counted
        them, else prompt tokens per second, else requests per second of wall time."""
        if self.eval_count and self.eval_duration:
            return "eval", self.eval_count / self.eval_duration
        if self.prompt_eval_count and self.prompt_eval_duration:
            return "prompt", self.prompt_eval_count / self.prompt_eval_duration
        return "wall", 1.0 / max(self.wall, 1e-6)


def _seconds(nanoseconds: int | None) -> float | None:
    return None if nanoseconds is None or nanoseconds <= 0 else nanoseconds * NS


TimingObserver = Callable[[Timing], None]
