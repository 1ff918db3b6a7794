"""Asking the models about one photo: every requested type through its chain."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from xmpvision.chain.dispatch import Dispatch
from xmpvision.chain.pool import EnginePool, ServiceSlots, Throttled
from xmpvision.chain.resolve import ChainOutcome, ModelChain, describe_model, runnable_models
from xmpvision.config.models import GENERATED_TYPES, ModelConfig, VisionConfig
from xmpvision.engines import create_engine, describe
from xmpvision.errors import EngineError
from xmpvision.results import Caption, Label, PhotoResult, Title
from xmpvision.runmodes import RunMode

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine
    from xmpvision.prepare.images import PhotoImage

log = logging.getLogger(__name__)

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
    """The chains of the requested types, sharing one engine pool, and the `Type: generate`
    models that can answer several of them in one request (tried first, bottom-up)."""

    chains: dict[str, ModelChain]
    pool: EnginePool
    slots: ServiceSlots
    generators: list[ModelConfig] = field(default_factory=list)

    def slot_count(self) -> int:
        return max(1, self.slots.total())

    def prefetch(self, photo: PhotoImage, types: Iterable[str]) -> None:
        """Decode what the first model of each chain will ask for (memoised by PhotoImage)."""
        for model_type in types:
            models = self.chains[model_type].models or self.generators
            if not models:
                continue
            info = describe(models[0])
            if info.sends == "jpeg":
                photo.jpeg(info.resolution)
            else:
                photo.rgb(info.resolution, fit=info.fit)

    @property
    def types(self) -> list[str]:
        covered = {t for m in self.generators for t in generated_types(m)}
        return [t for t, chain in self.chains.items() if chain.models or t in covered]

    def models(self) -> list[ModelConfig]:
        return [m for chain in self.chains.values() for m in chain.models]

    def analyze(self, photo: PhotoImage, types: Iterable[str] | None = None) -> PhotoResult:
        wanted = list(self.types if types is None else types)
        result = PhotoResult()
        earlier = self._generate(photo, wanted, result)
        for model_type in wanted:
            if model_type in result.models:
                continue  # answered by the combined request
            outcome = self._ask(self.chains[model_type], model_type, photo)
            if outcome.model is not None:
                setattr(result, model_type, outcome.value)
                result.models[model_type] = describe_model(outcome.model)
                result.sources[model_type] = describe(outcome.model).source
            else:
                errors = [*earlier.get(model_type, []), *outcome.errors]
                result.errors[model_type] = "; ".join(errors) or outcome.error or "no result"
        return result

    @staticmethod
    def _ask(chain: ModelChain, model_type: str, photo: PhotoImage) -> (
        ChainOutcome[list[Label]] | ChainOutcome[Caption] | ChainOutcome[Title]
    ):
        if model_type == "labels":
            return chain.labels(photo)
        if model_type == "title":
            return chain.title(photo)
        return chain.caption(photo)

    def _generate(self, photo: PhotoImage, wanted: list[str],
                  result: PhotoResult) -> dict[str, list[str]]:
        """Ask the first generate model that can, when it saves a request: it answers every
        type it can of those wanted. Returns why types it could not answer failed there."""
        failures: dict[str, list[str]] = {}
        for model in self.generators:
            types = tuple(t for t in generated_types(model) if t in wanted)
            if not types or (len(types) == 1 and self.chains[types[0]].models):
                continue  # one type with a model of its own: a combined request saves nothing
            try:
                partial = self.pool.get(model).generate(photo, types)
            except EngineError as exc:
                log.info("generate %s failed for %s: %s", describe_model(model), photo.path, exc)
                for t in types:
                    failures.setdefault(t, []).append(f"{describe_model(model)}: {exc}")
                continue
            source = describe(model).source
            for t in types:
                value = getattr(partial, t)
                if t in partial.errors or value is None:
                    failures.setdefault(t, []).append(
                        f"{describe_model(model)}: {partial.errors.get(t, 'no answer')}")
                    continue
                setattr(result, t, value)
                result.models[t] = describe_model(model)
                result.sources[t] = source
            return failures
        return failures

    def check_chain(self, model_type: str) -> ChainCheck:
        """Which model of the type is ready (tried in order, so a fallback is only loaded when
        the models before it are not)."""
        check = ChainCheck()
        covering = [m for m in self.generators if model_type in generated_types(m)]
        for model in [*self.chains[model_type].models, *covering]:
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


def generated_types(model: ModelConfig) -> tuple[str, ...]:
    """The types a generate model answers: its `Types`, else all it can."""
    return tuple(model.types) if model.types else GENERATED_TYPES


def build_analyzer(
    config: VisionConfig,
    types: Iterable[str],
    contexts: Iterable[RunMode],
    factory: Callable[[ModelConfig], Engine] | None = None,
) -> Analyzer:
    wanted = tuple(contexts)
    requested = tuple(types)
    models = {t: runnable_models(config, t, wanted) for t in requested}
    generators = [m for m in runnable_models(config, "generate", wanted)
                  if any(t in requested for t in generated_types(m))]
    every = [*generators, *(m for chain in models.values() for m in chain)]
    slots = ServiceSlots(describe(part) for m in every for part in m.endpoint_models())
    make = factory or (lambda m: create_engine(m, config.thresholds))
    pool = EnginePool(lambda m: _engine(m, make, slots))
    chains = {t: ModelChain(t, chain, pool) for t, chain in models.items()}
    return Analyzer(chains=chains, pool=pool, slots=slots, generators=generators)


def _engine(model: ModelConfig, make: Callable[[ModelConfig], Engine],
            slots: ServiceSlots) -> Engine:
    """The model's engine, throttled to its service; on several endpoints, one engine each
    behind a dispatcher."""
    parts = model.endpoint_models()
    if len(parts) == 1:
        return Throttled(make(model), slots, describe(model))
    return Dispatch([(make(part), describe(part)) for part in parts], slots, describe(model))


def with_source(result: PhotoResult, source: str) -> PhotoResult:
    """The result with every value attributed to `source` (`--source` overrides)."""
    labels = None if result.labels is None else [replace(x, source=source) for x in result.labels]
    caption = None if result.caption is None else replace(result.caption, source=source)
    title = None if result.title is None else replace(result.title, source=source)
    return PhotoResult(labels=labels, caption=caption, title=title, models=dict(result.models),
                       sources=dict.fromkeys(result.sources, source), errors=dict(result.errors))
