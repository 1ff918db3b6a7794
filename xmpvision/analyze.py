"""Asking the models about one photo: every requested type through its chain."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from xmpvision.chain import EnginePool, ModelChain, describe_model, runnable_models
from xmpvision.config.models import ModelConfig, VisionConfig
from xmpvision.engines import create_engine
from xmpvision.errors import EngineError
from xmpvision.results import Caption, Label, PhotoResult
from xmpvision.runmodes import RunMode

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine
    from xmpvision.images import PhotoImage

# The contexts each kind of run evaluates (SPEC §3).
SCAN_CONTEXTS = (RunMode.ON_INDEX, RunMode.NEWLY_INDEXED)
MANUAL_CONTEXTS = (RunMode.MANUAL,)


def slot_key(model: ModelConfig) -> str:
    """Which capacity a model's requests use: its Ollama service, or this machine's CPU."""
    if model.engine == "ollama":
        return f"ollama {model.service.uri}"
    return f"local {model.engine}"


class ServiceSlots:
    """One semaphore per service, sized by its Service.Parallel (the CPU classifier: 1).

    Models that share a service share its slots, so a labels model and a caption model on one
    Ollama never have more requests in flight together than that Ollama serves at once.
    """

    def __init__(self, models: Iterable[ModelConfig]) -> None:
        sizes: dict[str, int] = {}
        for model in models:
            key = slot_key(model)
            size = model.service.parallel if model.engine == "ollama" else 1
            sizes[key] = max(size, sizes.get(key, 0))
        self.sizes = sizes
        self._slots = {key: threading.BoundedSemaphore(n) for key, n in sizes.items()}

    def __getitem__(self, model: ModelConfig) -> threading.BoundedSemaphore:
        return self._slots[slot_key(model)]

    def total(self) -> int:
        return sum(self.sizes.values())


class _Throttled:
    """An engine whose model calls wait for a free slot of its service."""

    def __init__(self, engine: Engine, slots: threading.BoundedSemaphore) -> None:
        self._engine = engine
        self._slots = slots
        self.name = engine.name

    def check_ready(self) -> None:
        self._engine.check_ready()

    def labels(self, photo: PhotoImage) -> list[Label]:
        with self._slots:
            return self._engine.labels(photo)

    def caption(self, photo: PhotoImage) -> Caption:
        with self._slots:
            return self._engine.caption(photo)

    def close(self) -> None:
        self._engine.close()


@dataclass
class Analyzer:
    """The chains of the requested types, sharing one engine pool."""

    chains: dict[str, ModelChain]
    pool: EnginePool
    slots: ServiceSlots

    def slot_count(self) -> int:
        return max(1, self.slots.total())

    def prefetch(self, photo: PhotoImage, types: Iterable[str]) -> None:
        """Decode what the first model of each chain will ask for (memoised by PhotoImage)."""
        for model_type in types:
            models = self.chains[model_type].models
            if not models:
                continue
            first = models[0]
            if first.engine == "ollama":
                photo.jpeg(first.resolution or 720)
            elif first.engine == "tensorflow":
                photo.rgb(first.resolution or 224, fit="shortest")

    @property
    def types(self) -> list[str]:
        return [t for t, chain in self.chains.items() if chain.models]

    def models(self) -> list[ModelConfig]:
        return [m for chain in self.chains.values() for m in chain.models]

    def analyze(self, photo: PhotoImage, types: Iterable[str] | None = None) -> PhotoResult:
        result = PhotoResult()
        for model_type in self.types if types is None else types:
            chain = self.chains[model_type]
            if model_type == "labels":
                labels = chain.labels(photo)
                result.labels = labels.value
                outcome_model, error = labels.model, labels.error
            else:
                caption = chain.caption(photo)
                result.caption = caption.value
                outcome_model, error = caption.model, caption.error
            if outcome_model is not None:
                result.models[model_type] = describe_model(outcome_model)
            elif error:
                result.errors[model_type] = error
        return result

    def check_chain(self, model_type: str) -> str | None:
        """None when some model of the type is ready (tried in order, so a fallback is only
        loaded when the models before it are not); else every model's error."""
        errors = []
        for model in self.chains[model_type].models:
            try:
                self.pool.get(model)
            except EngineError as exc:
                errors.append(f"{describe_model(model)}: {exc}")
                continue
            return None
        return "; ".join(errors) or "no model configured"

    def close(self) -> None:
        self.pool.close()


def build_analyzer(
    config: VisionConfig,
    types: Iterable[str],
    contexts: Iterable[RunMode],
    factory: Callable[[ModelConfig], Engine] | None = None,
) -> Analyzer:
    wanted = tuple(contexts)
    models = {t: runnable_models(config, t, wanted) for t in types}
    slots = ServiceSlots(m for chain in models.values() for m in chain)
    make = factory or (lambda m: create_engine(m, config.thresholds))
    pool = EnginePool(lambda m: _Throttled(make(m), slots[m]))
    chains = {t: ModelChain(t, chain, pool) for t, chain in models.items()}
    return Analyzer(chains=chains, pool=pool, slots=slots)


def with_source(result: PhotoResult, source: str) -> PhotoResult:
    """The result with every value attributed to `source` (`--source` overrides)."""
    labels = None if result.labels is None else [replace(x, source=source) for x in result.labels]
    caption = None if result.caption is None else replace(result.caption, source=source)
    return PhotoResult(labels=labels, caption=caption, models=dict(result.models),
                       errors=dict(result.errors))
