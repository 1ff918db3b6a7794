"""Engines turn a prepared photo into labels or a caption; one registry finds them.

A second engine is one package (or module) with a `KIND` plus one line here. A kind describes
models without importing its heavy parts, so an Ollama-only install never imports TensorFlow
(nor numpy) to list, check or run its models.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from xmpvision.engines import onnx, tensorflow
from xmpvision.engines.base import EngineInfo
from xmpvision.errors import EngineUnavailable

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.base import Engine, EngineKind


class _Lazy:
    """An engine in one module with `describe(model)` and an engine class, imported on first
    use (an HTTP engine needs nothing heavy, but a command that never asks it loads nothing)."""

    def __init__(self, name: str, module: str, engine_class: str) -> None:
        self.name = name
        self._module = module
        self._class = engine_class

    def describe(self, model: ModelConfig) -> EngineInfo:
        info = importlib.import_module(self._module).describe(model)
        return cast("EngineInfo", info)

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine:
        engine = getattr(importlib.import_module(self._module), self._class)(model, thresholds)
        return cast("Engine", engine)


KINDS: dict[str, EngineKind] = {
    "ollama": _Lazy("ollama", "xmpvision.engines.ollama.engine", "OllamaEngine"),
    "openai": _Lazy("openai", "xmpvision.engines.openai", "OpenAIEngine"),
    tensorflow.KIND.name: tensorflow.KIND,
    onnx.KIND.name: onnx.KIND,
}


def _kind(model: ModelConfig) -> EngineKind | None:
    return KINDS.get(model.engine or "")


def _no_engine(model: ModelConfig) -> str:
    return f"model {model.model_ref!r} has no engine; set Engine to one of {', '.join(KINDS)}"


def describe(model: ModelConfig) -> EngineInfo:
    """What the model's engine says about it; an entry without an engine is described as
    unavailable (it never runs). A model on several endpoints: all of them, their slots
    summed."""
    kind = _kind(model)
    if kind is None:
        return EngineInfo(engine=model.engine or "", source="", endpoint="",
                          format=model.format or "", unavailable=_no_engine(model))
    parts = [kind.describe(part) for part in model.endpoint_models()]
    if len(parts) == 1:
        return parts[0]
    return replace(parts[0], endpoint=", ".join(p.endpoint for p in parts),
                   slots=sum(p.slots for p in parts),
                   capacity=" + ".join(p.capacity for p in parts))


def create_engine(model: ModelConfig, thresholds: Thresholds) -> Engine:
    """The engine for a model; an unknown engine is reported as unavailable for that model."""
    kind = _kind(model)
    if kind is None:
        raise EngineUnavailable(_no_engine(model))
    return kind.create(model, thresholds)
