"""Asking the models about one photo: every requested type through its chain."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from xmpvision.chain.breaker import Breaker, BreakerPolicy, Breakers
from xmpvision.chain.compose import Engines, compose
from xmpvision.chain.pool import EnginePool, Runner, ServiceSlots, engine_key
from xmpvision.chain.resolve import ModelChain, describe_model, runnable_models
from xmpvision.config.models import GENERATED_TYPES, ModelConfig, VisionConfig
from xmpvision.engines import describe
from xmpvision.errors import EngineError, InvalidPayload, is_down
from xmpvision.results import PhotoResult
from xmpvision.runmodes import RunMode

if TYPE_CHECKING:
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
    # Fallbacks of the owner's after the ready model that cannot run on this install (not
    # loaded to find out: a missing package is looked up), so that an outage is not when the
    # owner learns it.
    broken_fallbacks: list[tuple[ModelConfig, str]] = field(default_factory=list)

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
    breakers: Breakers = field(default_factory=Breakers)
    # engine key of a model -> the breakers of its endpoints (once its engine exists)
    guards: dict[str, list[Breaker]] = field(default_factory=dict)
    # The engines, when this analyzer made them (else their owner closes them: the daemon's
    # are kept across jobs).
    owned: Engines | None = None

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
        return self._analyze(photo, {t: (self.generators, None) for t in wanted})

    def upgrade(self, photo: PhotoImage, answered: Mapping[str, str]) -> PhotoResult:
        """Ask only the models better than the one that answered each type (a fallback,
        while they were down); a type none of them answers is in the result's errors."""
        plan = {t: better for t, model in answered.items()
                if (better := self._better(t, model)) is not None}
        return self._analyze(photo, plan)

    def upgradable(self, model_type: str, answered: str) -> bool:
        """Whether a better model than `answered` may be asked now: not known broken, and a
        breaker of its endpoints not open (no photo is decoded for an upgrade that would be
        refused)."""
        better = self._better(model_type, answered)
        if better is None:
            return False
        generators, models = better
        # As _generate asks them: a generate model for one type only when it has no model
        # of its own to ask.
        return self._may_try([*([] if models else generators), *(models or [])])

    def may_answer(self, model_type: str) -> bool:
        """Whether a model of the type may be asked now (one whose server was down may be
        back: its breaker lets a probe through)."""
        return self._may_try([*self._covering(model_type), *self.chains[model_type].models])

    def _covering(self, model_type: str) -> list[ModelConfig]:
        """The generate models that answer the type."""
        return [m for m in self.generators if model_type in generated_types(m)]

    def _may_try(self, models: list[ModelConfig]) -> bool:
        for model in models:
            if self.pool.broken(model):
                continue
            guards = self.guards.get(engine_key(model))
            if guards is None or any(b.may_try() for b in guards):
                return True
        return False

    def _better(self, model_type: str, answered: str) -> (
        tuple[list[ModelConfig], list[ModelConfig] | None] | None
    ):
        """(generate models, the type's own models) tried before `answered`; None when it is
        not among them any more (the configuration changed)."""
        covering = self._covering(model_type)
        names = [describe_model(m) for m in covering]
        if answered in names:
            return covering[:names.index(answered)], []
        models = self.chains[model_type].better_than(answered)
        return None if models is None else (covering, models)

    def _analyze(self, photo: PhotoImage, plan: Mapping[str, tuple[
            list[ModelConfig], list[ModelConfig] | None]]) -> PhotoResult:
        """`plan`: per type, the generate models that may answer it and its own models to
        ask (None: its whole chain)."""
        result = PhotoResult()
        earlier, down = self._generate(photo, plan, result)
        for model_type, (_, models) in plan.items():
            if model_type in result.models:
                continue  # answered by the combined request
            outcome = self.chains[model_type].ask(photo, models)
            result.tokens += outcome.tokens
            if outcome.model is not None and outcome.value is not None:
                _take(result, outcome.value, model_type)
                result.models[model_type] = describe_model(outcome.model)
                result.sources[model_type] = describe(outcome.model).source
            else:
                errors = [*earlier.get(model_type, []), *outcome.errors]
                result.errors[model_type] = "; ".join(errors) or outcome.error or "no result"
            # Answered by a fallback, or failed, while these better models were down.
            missed = [*down.get(model_type, []), *outcome.down]
            if missed:
                result.fallback[model_type] = missed
        return result

    def _generate(self, photo: PhotoImage, plan: Mapping[str, tuple[
            list[ModelConfig], list[ModelConfig] | None]], result: PhotoResult,
                  ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Ask the first generate model that can, when it saves a request: it answers every
        type it can of those wanted. Returns why types it could not answer failed there, and
        the generate models that were down per type."""
        failures: dict[str, list[str]] = {}
        down: dict[str, list[str]] = {}
        for model in self.generators:
            types = tuple(t for t in generated_types(model)
                          if t in plan and model in plan[t][0])
            own = [plan[t][1] if plan[t][1] is not None else self.chains[t].models
                   for t in types]
            if not types or (len(types) == 1 and own[0]):
                continue  # one type with a model of its own: a combined request saves nothing
            try:
                partial = self.pool.get(model).answer(photo, types)
            except EngineError as exc:
                if isinstance(exc, InvalidPayload) and exc.spent is not None:
                    result.tokens.append(("generate", exc.spent))
                log.info("generate %s failed for %s: %s", describe_model(model), photo.path, exc)
                for t in types:
                    failures.setdefault(t, []).append(f"{describe_model(model)}: {exc}")
                    if is_down(exc):
                        down.setdefault(t, []).append(describe_model(model))
                continue
            result.tokens += partial.tokens
            source = describe(model).source
            for t in types:
                value = partial.value(t)
                if t in partial.errors or value is None:
                    failures.setdefault(t, []).append(
                        f"{describe_model(model)}: {partial.errors.get(t, 'no answer')}")
                    continue
                _take(result, partial, t)
                result.models[t] = describe_model(model)
                result.sources[t] = source
                if down.get(t):
                    result.fallback[t] = down[t]
            return failures, down
        return failures, down

    def check_chain(self, model_type: str) -> ChainCheck:
        """Which model of the type is ready (tried in order, so a fallback is only loaded when
        the models before it are not)."""
        check = ChainCheck()
        covering = self._covering(model_type)
        chain = [*self.chains[model_type].models, *covering]
        for index, model in enumerate(chain):
            try:
                self.pool.get(model)
            except EngineError as exc:
                check.failures.append((model, exc))
                continue
            check.ready = model
            # The built-in fallback is said only when it is needed: a small install leaves
            # it out on purpose.
            for fallback in (m for m in chain[index + 1:] if not m.default):
                info = describe(fallback)
                if info.unavailable is not None:
                    fix = f"; {info.fix}" if info.fix else ""
                    check.broken_fallbacks.append((fallback, f"{info.unavailable}{fix}"))
            break
        return check

    def close(self) -> None:
        if self.owned is not None:
            self.owned.close()


def _take(result: PhotoResult, answer: PhotoResult, model_type: str) -> None:
    """The type's value of `answer` into `result`."""
    result.set_value(model_type, answer.value(model_type))


def generated_types(model: ModelConfig) -> tuple[str, ...]:
    """The types a generate model answers: its `Types`, else all it can."""
    return tuple(model.types) if model.types else GENERATED_TYPES


def build_analyzer(
    config: VisionConfig,
    types: Iterable[str],
    contexts: Iterable[RunMode],
    engines: Engines | None = None,
) -> Analyzer:
    """The chains of `types` that run in `contexts`, their models composed over `engines` (a
    run's own when None, closed with the analyzer)."""
    wanted = tuple(contexts)
    requested = tuple(types)
    models = {t: runnable_models(config, t, wanted) for t in requested}
    generators = [m for m in runnable_models(config, "generate", wanted)
                  if any(t in requested for t in generated_types(m))]
    every = [*generators, *(m for chain in models.values() for m in chain)]
    owned = Engines(config.thresholds) if engines is None else None
    source = engines or owned
    assert source is not None
    slots = ServiceSlots((describe(part) for m in every for part in m.endpoint_models()),
                         source.limiters)
    fallback = config.fallback
    breakers = Breakers(BreakerPolicy(fallback.failures, fallback.open, fallback.open_max))
    guards: dict[str, list[Breaker]] = {}

    def runner(model: ModelConfig) -> Runner:
        made, guarding = compose(model, source, slots, breakers)
        guards[engine_key(model)] = guarding
        return made

    pool = EnginePool(runner)
    chains = {t: ModelChain(t, chain, pool) for t, chain in models.items()}
    return Analyzer(chains=chains, pool=pool, slots=slots, generators=generators,
                    breakers=breakers, guards=guards, owned=owned)


def with_source(result: PhotoResult, source: str) -> PhotoResult:
    """The result with every value attributed to `source` (`--source` overrides)."""
    labels = None if result.labels is None else [replace(x, source=source) for x in result.labels]
    texts = {t: replace(text, source=source) for t, text in result.texts.items()}
    return PhotoResult(labels=labels, texts=texts, models=dict(result.models),
                       sources=dict.fromkeys(result.sources, source), errors=dict(result.errors),
                       tokens=result.tokens)
