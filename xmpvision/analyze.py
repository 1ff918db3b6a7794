"""Asking the models about one photo: every requested type through its chain."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from xmpvision.chain import EnginePool, ModelChain, describe_model, runnable_models
from xmpvision.config.models import ModelConfig, VisionConfig
from xmpvision.engines import create_engine
from xmpvision.results import PhotoResult
from xmpvision.runmodes import RunMode

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine
    from xmpvision.images import PhotoImage

# The contexts each kind of run evaluates (SPEC §3).
SCAN_CONTEXTS = (RunMode.ON_INDEX, RunMode.NEWLY_INDEXED)
MANUAL_CONTEXTS = (RunMode.MANUAL,)
SCHEDULE_CONTEXTS = (RunMode.ON_SCHEDULE,)


@dataclass
class Analyzer:
    """The chains of the requested types, sharing one engine pool."""

    chains: dict[str, ModelChain]
    pool: EnginePool

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

    def close(self) -> None:
        self.pool.close()


def build_analyzer(
    config: VisionConfig,
    types: Iterable[str],
    contexts: Iterable[RunMode],
    factory: Callable[[ModelConfig], Engine] | None = None,
) -> Analyzer:
    wanted = tuple(contexts)
    pool = EnginePool(factory or (lambda m: create_engine(m, config.thresholds)))
    chains = {t: ModelChain(t, runnable_models(config, t, wanted), pool) for t in types}
    return Analyzer(chains=chains, pool=pool)


def with_source(result: PhotoResult, source: str) -> PhotoResult:
    """The result with every value attributed to `source` (`--source` overrides)."""
    labels = None if result.labels is None else [replace(x, source=source) for x in result.labels]
    caption = None if result.caption is None else replace(result.caption, source=source)
    return PhotoResult(labels=labels, caption=caption, models=dict(result.models),
                       errors=dict(result.errors))
