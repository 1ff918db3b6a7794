"""The Ollama engine as the registry knows it (light: the engine module loads on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.base import Engine, EngineInfo


class OllamaKind:
    name = "ollama"

    def describe(self, model: ModelConfig) -> EngineInfo:
        from xmpvision.engines.ollama.engine import describe

        return describe(model)

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine:
        from xmpvision.engines.ollama.engine import OllamaEngine

        return OllamaEngine(model, thresholds)


KIND = OllamaKind()
