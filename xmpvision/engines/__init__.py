"""Engines turn a prepared photo into labels or a caption; one registry finds them.

A second engine is one package (or module) with a `KIND` plus one line here. A kind describes
models without importing its heavy parts, so an Ollama-only install never imports TensorFlow
(nor numpy) to list, check or run its models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xmpvision.engines import ollama, tensorflow
from xmpvision.engines.base import EngineInfo
from xmpvision.errors import EngineUnavailable

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.base import Engine, EngineKind

KINDS: dict[str, EngineKind] = {
    ollama.KIND.name: ollama.KIND,
    tensorflow.KIND.name: tensorflow.KIND,
}


def _kind(model: ModelConfig) -> EngineKind | None:
    return KINDS.get(model.engine or "")


def _no_engine(model: ModelConfig) -> str:
    return f"model {model.model_ref!r} has no engine; set Engine to one of {', '.join(KINDS)}"


def describe(model: ModelConfig) -> EngineInfo:
    """What the model's engine says about it; an entry without an engine is described as
    unavailable (it never runs)."""
    kind = _kind(model)
    if kind is None:
        return EngineInfo(engine=model.engine or "", source="", endpoint="",
                          format=model.format or "", unavailable=_no_engine(model))
    return kind.describe(model)


def create_engine(model: ModelConfig, thresholds: Thresholds) -> Engine:
    """The engine for a model; an unknown engine is reported as unavailable for that model."""
    kind = _kind(model)
    if kind is None:
        raise EngineUnavailable(_no_engine(model))
    return kind.create(model, thresholds)
