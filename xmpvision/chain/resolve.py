"""Model chains: per type, the models to try bottom-up, and running one with fallback.

vision.yml lists models top-down, but the bottom-most enabled model of a type is tried first
(PhotoPrism's rule). When it fails at run time the next enabled model above it is tried.
PhotoPrism documents this fallback without implementing it; here it is real.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xmpvision.config.models import SUPPORTED_TYPES, ModelConfig, VisionConfig
from xmpvision.errors import CircuitOpen, EngineError, InvalidPayload, is_down
from xmpvision.runmodes import RunMode, should_run

if TYPE_CHECKING:
    from xmpvision.chain.pool import EnginePool
    from xmpvision.prepare.images import PhotoImage
    from xmpvision.results import PhotoResult, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainEntry:
    """One model in a type's chain, as `vision ls` shows it."""

    model: ModelConfig
    index: int  # position in vision.yml's Models list (0-based), for messages
    order: int | None  # 1 = tried first; None for a disabled model (never tried)
    active: bool  # the model tried first


def resolve_chain(config: VisionConfig, model_type: str) -> list[ChainEntry]:
    """Every model of a type in evaluation order: enabled ones bottom-up, then disabled ones."""
    indexed = [(i, m) for i, m in enumerate(config.models) if m.type == model_type]
    bottom_up = list(reversed(indexed))
    enabled = [(i, m) for i, m in bottom_up if m.enabled]
    disabled = [(i, m) for i, m in bottom_up if not m.enabled]
    entries = [
        ChainEntry(model=m, index=i, order=n, active=n == 1)
        for n, (i, m) in enumerate(enabled, start=1)
    ]
    entries += [ChainEntry(model=m, index=i, order=None, active=False) for i, m in disabled]
    return entries


def resolve_chains(config: VisionConfig) -> dict[str, list[ChainEntry]]:
    return {t: resolve_chain(config, t) for t in (*SUPPORTED_TYPES, "generate")}


def runnable_models(
    config: VisionConfig, model_type: str, contexts: Iterable[RunMode]
) -> list[ModelConfig]:
    """The enabled models of a type that run in any of the contexts, in evaluation order.

    `scan` passes both on-index and newly-indexed: the classifier (auto, built-in) and an Ollama
    model (newly-indexed) then form one chain, so the classifier answers only when Ollama can't,
    instead of every photo getting both sets of labels.
    """
    wanted = tuple(contexts)
    return [
        e.model
        for e in resolve_chain(config, model_type)
        if e.order is not None
        and any(should_run(e.model.run, c, builtin_default=e.model.default) for c in wanted)
    ]


def describe_model(model: ModelConfig) -> str:
    return f"{model.engine}:{model.model_ref}"


@dataclass
class ChainOutcome:
    """What a chain produced: the answer (its type's value set) and model, or every model's
    error."""

    value: PhotoResult | None = None
    model: ModelConfig | None = None
    errors: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)  # models before it whose server was down
    # what every answer it got cost, used or not (PhotoResult.tokens)
    tokens: list[tuple[str, Usage]] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        if self.value is not None:
            return None
        return "; ".join(self.errors) if self.errors else "no model configured for this type"


class ModelChain:
    """Runs one type's models in order until one answers."""

    def __init__(self, model_type: str, models: list[ModelConfig], pool: EnginePool) -> None:
        self.model_type = model_type
        self.models = models
        self._pool = pool

    def better_than(self, answered: str) -> list[ModelConfig] | None:
        """The models tried before the one named `answered` ("engine:model"); None when it is
        no longer in the chain (the configuration changed)."""
        names = [describe_model(m) for m in self.models]
        return self.models[:names.index(answered)] if answered in names else None

    def ask(self, photo: PhotoImage, models: list[ModelConfig] | None = None) -> ChainOutcome:
        """The chain's models (or `models`) in order until one answers the type."""
        outcome = ChainOutcome()
        asked = (self.model_type,)
        for model in self.models if models is None else models:
            try:
                answer = self._pool.get(model).answer(photo, asked)
                outcome.tokens += answer.tokens
                if self.model_type in answer.errors:
                    raise InvalidPayload(answer.errors[self.model_type])
            except EngineError as exc:
                if isinstance(exc, InvalidPayload) and exc.spent is not None:
                    outcome.tokens.append((self.model_type, exc.spent))
                # ImageError is not caught: a photo no model can read is the file's fault.
                # A request the breaker kept back is logged once, when it opened.
                log.log(logging.DEBUG if isinstance(exc, CircuitOpen) else logging.INFO,
                        "%s %s failed for %s: %s", self.model_type, describe_model(model),
                        photo.path, exc)
                # With its fix (`ollama pull x`): the photo's line is where a user looks.
                outcome.errors.append(f"{describe_model(model)}: {exc.with_hint()}")
                if is_down(exc):
                    outcome.down.append(describe_model(model))
                continue
            outcome.value = answer
            outcome.model = model
            return outcome
        return outcome
