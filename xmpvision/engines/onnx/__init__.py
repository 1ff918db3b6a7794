"""The ONNX classifier (Engine onnx, PhotoPrism 2026's labels models) as the registry knows it.

Describing a model needs neither numpy nor ONNX Runtime (the small install has neither):
whether they are installed is looked up, not imported, and the engine module loads on first
use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xmpvision.config.defaults import ENGINE_DEFAULTS
from xmpvision.engines.base import ModuleKind
from xmpvision.engines.classifier.kind import local_info, missing

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig
    from xmpvision.engines.base import EngineInfo

ENGINE = "onnx"
SOURCE = ENGINE_DEFAULTS[ENGINE].source
INSTALL_HINT = "pip install 'xmpvision[onnx]'"
PACKAGES = ("numpy", "onnxruntime")


def missing_packages() -> list[str]:
    """The packages the ONNX classifier needs that this install lacks."""
    return missing(PACKAGES)


def describe(model: ModelConfig) -> EngineInfo:
    from xmpvision.engines.onnx.files import decode_size, model_file

    return local_info(ENGINE, SOURCE, f"local {model_file(model)}", decode_size(model),
                      PACKAGES, INSTALL_HINT)


KIND = ModuleKind(ENGINE, describe, "xmpvision.engines.onnx.engine", "OnnxEngine")
