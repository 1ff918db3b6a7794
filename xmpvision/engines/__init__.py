"""Engines turn a prepared photo into labels, a caption or a title; one registry finds them.

An engine is a module with a `KIND` (see base.EngineKind) plus its row in config/defaults.py's
ENGINE_DEFAULTS, which names that module: vision.yml's Engine value, its provenance source and
its defaults are defined there once. A kind is loaded on first use and describes models without
importing its heavy parts, so an Ollama-only install never imports TensorFlow (nor numpy) to
list, check or run its models.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, cast

from xmpvision.config.defaults import ENGINE_DEFAULTS
from xmpvision.engines.base import EngineInfo
from xmpvision.errors import EngineUnavailable

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.base import Engine, EngineKind


@cache
def kind_of(name: str) -> EngineKind | None:
    """The kind of vision.yml's Engine `name` (None: no such engine)."""
    row = ENGINE_DEFAULTS.get(name)
    if row is None:
        return None
    module, _, attribute = row.kind.partition(":")
    return cast("EngineKind", getattr(importlib.import_module(module), attribute))


def _kind(model: ModelConfig) -> EngineKind | None:
    return kind_of(model.engine or "")


def _no_engine(model: ModelConfig) -> str:
    return (f"model {model.model_ref!r} has no engine; set Engine to one of "
            f"{', '.join(ENGINE_DEFAULTS)}")


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
    """The engine for one endpoint of a model; an unknown engine is reported as unavailable
    for that model. Callers compose it (chain/compose.py) rather than use it bare."""
    kind = _kind(model)
    if kind is None:
        raise EngineUnavailable(_no_engine(model))
    return kind.create(model, thresholds)
