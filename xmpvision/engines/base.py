"""What every engine is (the `Engine` protocol the chain calls) and what every engine says about
itself (`EngineKind.describe`), so that no module outside `engines/` needs to know an engine's
name: `vision ls`, the service slots and image preparation all read an `EngineInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.prepare.images import PhotoImage
    from xmpvision.results import Caption, Label, PhotoResult, Title

Fit = Literal["longest", "shortest"]


@dataclass(frozen=True)
class EngineInfo:
    """One configured model as its engine will run it."""

    engine: str  # as in vision.yml's Engine
    source: str  # the provenance source of its values ("ollama", "image", ...)
    endpoint: str  # where it runs, for `vision ls` (never holds a secret)
    format: str  # the response format, for `vision ls`
    options: dict[str, Any] = field(default_factory=dict)  # effective options, for `vision ls`
    # Models with the same capacity key share `slots` requests in flight (one Ollama service
    # answering a labels and a caption model; this machine's CPU for local classifiers).
    capacity: str = ""
    slots: int = 1
    # How the photo is prepared for it: the longest (or shortest) side in pixels.
    resolution: int = 720
    fit: Fit = "longest"
    sends: Literal["jpeg", "pixels"] = "jpeg"  # a JPEG over the wire, or pixels in memory
    # None when the engine can run here; else why not (e.g. not installed), and the fix.
    unavailable: str | None = None
    fix: str | None = None


@runtime_checkable
class Engine(Protocol):
    """One configured model behind one engine.

    Every failure is raised as an `xmpvision.errors.EngineError` subclass (`EngineUnavailable`,
    `ModelNotFound`, `InvalidPayload`), so the chain can fall back to the next model; an
    unreadable photo raises `ImageError`, which no other model can fix. Implementations must be
    safe to call from several worker threads at once.
    """

    info: EngineInfo

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

    def title(self, photo: PhotoImage) -> Title:
        """A short title for the photo, already cleaned."""
        ...

    def generate(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        """Every type of `types` from one request; a type the answer could not give is in
        the result's `errors` (its own chain answers it then)."""
        ...

    def close(self) -> None:
        """Release connections and other resources; the engine is not used afterwards."""
        ...


class EngineKind(Protocol):
    """An engine as the registry knows it: it describes a model cheaply (no connection, no heavy
    import) and creates the engine that runs it."""

    name: str

    def describe(self, model: ModelConfig) -> EngineInfo: ...

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine: ...


@runtime_checkable
class Probed(Protocol):
    """An engine on a server that can be asked cheaply whether it is back (its circuit
    breaker's probe). Local engines have no such server and no breaker."""

    def probe(self, seconds: float) -> None:
        """Raise an `EngineError` unless the server answers its cheapest request within
        `seconds`."""
        ...
