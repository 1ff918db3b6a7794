"""Engines turn a prepared photo into labels or a caption; one dispatch table finds them.

Each engine module is imported only when a model uses it, so an Ollama-only install never
imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.errors import EngineUnavailable

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine


def _ollama(model: ModelConfig, thresholds: Thresholds) -> Engine:
    from xmpvision.engines.ollama import OllamaEngine

    return OllamaEngine(model, thresholds)


def _tensorflow(model: ModelConfig, thresholds: Thresholds) -> Engine:
    from xmpvision.engines.tensorflow import TensorFlowEngine

    return TensorFlowEngine(model, thresholds)


ENGINES: dict[str, Callable[[ModelConfig, Thresholds], Engine]] = {
    "ollama": _ollama,
    "tensorflow": _tensorflow,
}


def create_engine(model: ModelConfig, thresholds: Thresholds) -> Engine:
    """The engine for a model; an unknown engine is reported as unavailable for that model."""
    factory = ENGINES.get(model.engine or "")
    if factory is None:
        raise EngineUnavailable(
            f"model {model.model_ref!r} has no engine; set Engine to one of {', '.join(ENGINES)}"
        )
    return factory(model, thresholds)
