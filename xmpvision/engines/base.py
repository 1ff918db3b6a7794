"""The Engine protocol: what the model chain needs from every engine (ollama, tensorflow)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from xmpvision.images import PhotoImage
from xmpvision.results import Caption, Label


@runtime_checkable
class Engine(Protocol):
    """One configured model behind one engine.

    Every failure is raised as an `xmpvision.errors.EngineError` subclass (`EngineUnavailable`,
    `ModelNotFound`, `InvalidPayload`), so the chain can fall back to the next model; an
    unreadable photo raises `ImageError`, which no other model can fix. Implementations must be
    safe to call from several worker threads at once.
    """

    name: str  # the engine, as in vision.yml's Engine: "ollama" or "tensorflow"

    def check_ready(self) -> None:
        """Verify once per run that the model can answer; raise `ModelNotFound` or
        `EngineUnavailable` otherwise. A permanent failure is remembered and raised again
        without asking the service, so a missing model costs one request, not one per file."""
        ...

    def labels(self, photo: PhotoImage) -> list[Label]:
        """Keywords for the photo, already normalised (may be empty)."""
        ...

    def caption(self, photo: PhotoImage) -> Caption:
        """One caption for the photo, already cleaned."""
        ...

    def close(self) -> None:
        """Release connections and other resources; the engine is not used afterwards."""
        ...
