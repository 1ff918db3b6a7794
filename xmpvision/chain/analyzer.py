"""Asking the models about one photo: every requested type through its chain."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from xmpvision.chain.pool import EnginePool, ServiceSlots, Throttled
from xmpvision.chain.resolve import ModelChain, describe_model, runnable_models
from xmpvision.config.models import ModelConfig, VisionConfig
from xmpvision.engines import create_engine, describe
from xmpvision.errors import EngineError
from xmpvision.results import PhotoResult
from xmpvision.runmodes import RunMode

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine
    from xmpvision.prepare.images import PhotoImage

# The contexts each kind of run evaluates: a scan runs inline (on-index) and newly-indexed
# models as one chain per type; `vision run` is manual.
SCAN_CONTEXTS = (RunMode.ON_INDEX, RunMode.NEWLY_INDEXED)
MANUAL_CONTEXTS = (RunMode.MANUAL,)


@dataclass
class ChainCheck:
    """The readiness of one type's chain: the first model that can run (None: none can) and
    why each model before it cannot."""

    ready: ModelConfig | None = None
    failures: list[tuple[ModelConfig, EngineError]] = field(default_factory=list)

    def summary(self, model_type: str) -> str:
        """One short line for each photo that needs this type while no model can run."""
        if not self.failures:
            return f"no {model_type} model is configured"
        names = ", ".join(describe_model(m) for m, _ in self.failures)
        return f"no {model_type} model can run ({names} unavailable)"


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
            info = describe(models[0])
            if info.sends == "jpeg":
                photo.jpeg(info.resolution)
            else:
                photo.rgb(info.resolution, fit=info.fit)

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
                result.sources[model_type] = describe(outcome_model).source
            elif error:
                result.errors[model_type] = error
        return result

    def check_chain(self, model_type: str) -> ChainCheck:
        """Which model of the type is ready (tried in order, so a fallback is only loaded when
        the models before it are not)."""
        check = ChainCheck()
        for model in self.chains[model_type].models:
            try:
                self.pool.get(model)
            except EngineError as exc:
                check.failures.append((model, exc))
                continue
            check.ready = model
            break
        return check

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
    slots = ServiceSlots(describe(m) for chain in models.values() for m in chain)
    make = factory or (lambda m: create_engine(m, config.thresholds))
    pool = EnginePool(lambda m: Throttled(make(m), slots[m], describe(m)))
    chains = {t: ModelChain(t, chain, pool) for t, chain in models.items()}
    return Analyzer(chains=chains, pool=pool, slots=slots)


def with_source(result: PhotoResult, source: str) -> PhotoResult:
    """The result with every value attributed to `source` (`--source` overrides)."""
    labels = None if result.labels is None else [replace(x, source=source) for x in result.labels]
    caption = None if result.caption is None else replace(result.caption, source=source)
    return PhotoResult(labels=labels, caption=caption, models=dict(result.models),
                       sources=dict.fromkeys(result.sources, source), errors=dict(result.errors))
