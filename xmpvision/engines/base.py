"""What every engine is (the `Engine` protocol), what it can do (`Abilities`, declared by its
kind) and what it says about a model (`EngineKind.describe`), so that no module outside
`engines/` needs to know an engine's name: `vision ls`, the composition of a run's engines, the
service slots and image preparation all read an `EngineInfo`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from xmpvision.config.defaults import DEFAULT_READ_TIMEOUT, ENGINE_DEFAULTS
from xmpvision.errors import EngineUnavailable

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.pause import PauseGate
    from xmpvision.prepare.images import PhotoImage
    from xmpvision.results import PhotoResult

Fit = Literal["longest", "shortest"]
# Told each answer's timings (an Ollama answer's `Timing`): the health monitor of a run.
TimingObserver = Callable[[Any], None]


@dataclass(frozen=True)
class Abilities:
    """What an engine can do, as its kind declares it. The composition of a run's engines reads
    this; nothing asks an engine object what it is."""

    # The types it answers; a `Type: generate` entry answers several of them in one request.
    answers: tuple[str, ...] = ("labels",)
    # It asks a server: a circuit breaker probes it, and a model may run on several endpoints.
    server: bool = False
    # It tells each answer's timings to the health monitor and waits at its pause gate.
    timings: bool = False
    # It runs the photos of several workers as one call (their slots are its batch).
    batches: bool = False


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
    # `Parallel: auto`: `slots` is the most its limiter tries while it finds how many requests
    # the server serves at once, each within its read timeout (`timeout`, seconds).
    auto: bool = False
    timeout: float = DEFAULT_READ_TIMEOUT
    # How the photo is prepared for it: the longest (or shortest) side in pixels.
    resolution: int = 720
    fit: Fit = "longest"
    sends: Literal["jpeg", "pixels"] = "jpeg"  # a JPEG over the wire, or pixels in memory
    abilities: Abilities = field(default_factory=Abilities)
    # None when the engine can run here; else why not (e.g. not installed), and the fix.
    unavailable: str | None = None
    fix: str | None = None


class Engine(Protocol):
    """One configured model behind one engine, on one endpoint.

    Every failure is raised as an `xmpvision.errors.EngineError` subclass (`EngineUnavailable`,
    `ModelNotFound`, `InvalidPayload`, `ServiceDown`), so the chain can fall back to the next
    model; an unreadable photo raises `ImageError`, which no other model can fix.
    Implementations must be safe to call from several worker threads at once.
    """

    info: EngineInfo

    def check_ready(self) -> None:
        """Verify once that the model can answer; raise `ModelNotFound` or `EngineUnavailable`
        otherwise. A permanent failure is remembered and raised again without asking the
        service, so a missing model costs one request, not one per file."""
        ...

    def answer(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        """The photo's values for `types` (the entry's own type; a generate entry: several of
        its types from one request). Raises when the request failed as a whole; a type the
        answer could not give is in the result's `errors`."""
        ...

    def forget_failures(self) -> None:
        """Forget the permanent failures remembered so far (a daemon's next job asks again)."""
        ...

    def close(self) -> None:
        """Release connections and other resources; the engine is not used afterwards."""
        ...


class ServerEngine(Engine, Protocol):
    """An engine whose kind declares `abilities.server`."""

    def probe(self, seconds: float) -> None:
        """Raise an `EngineError` unless the server answers its cheapest request within
        `seconds` (the circuit breaker's probe)."""
        ...


class TimedEngine(Engine, Protocol):
    """An engine whose kind declares `abilities.timings`."""

    def watch(self, observer: TimingObserver, gate: PauseGate) -> None:
        """Tell `observer` every answer's timings, and wait at `gate` while the service
        restarts."""
        ...


class EngineKind(Protocol):
    """An engine as the registry knows it: its name (vision.yml's Engine) and the provenance
    source of its values; it describes a model cheaply (no connection, no heavy import) and
    creates the engine that runs it."""

    name: str
    source: str

    def describe(self, model: ModelConfig) -> EngineInfo: ...

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine: ...


class ModuleKind:
    """An EngineKind from a `describe` function and an engine class in `module`, imported on
    first `create` (a local classifier's module imports numpy and its runtime). A model its
    description calls unavailable (a package not installed) is not created."""

    def __init__(self, name: str, describe: Callable[[ModelConfig], EngineInfo], module: str,
                 engine_class: str) -> None:
        self.name = name
        self.source = ENGINE_DEFAULTS[name].source
        self._describe = describe
        self._module = module
        self._class = engine_class

    def describe(self, model: ModelConfig) -> EngineInfo:
        return self._describe(model)

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine:
        info = self._describe(model)
        if info.unavailable is not None:
            raise EngineUnavailable(info.unavailable, hint=info.fix)
        engine = getattr(importlib.import_module(self._module), self._class)(model, thresholds)
        return cast("Engine", engine)
