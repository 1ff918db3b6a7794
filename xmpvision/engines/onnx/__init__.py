"""The ONNX classifier (Engine onnx, PhotoPrism 2026's labels models) as the registry knows it.

Describing a model needs neither numpy nor ONNX Runtime (the small install has neither):
whether they are installed is looked up, not imported, and the engine module loads on first
use.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from xmpvision.config.defaults import CLASSIFIER_SLOTS
from xmpvision.engines.base import EngineInfo

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.base import Engine

ENGINE = "onnx"
SOURCE = "onnx"  # PhotoPrism's source name for ONNX classifier labels (priority 12)
INSTALL_HINT = "pip install 'xmpvision[onnx]'"


def missing_packages() -> list[str]:
    """The packages the ONNX classifier needs that this install lacks."""
    return [name for name in ("numpy", "onnxruntime") if not _installed(name)]


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False


def describe(model: ModelConfig) -> EngineInfo:
    from xmpvision.engines.onnx.files import decode_size, model_file

    missing = missing_packages()
    unavailable = f"onnx engine: {' and '.join(missing)} not installed" if missing else None
    # Several workers' photos at once: the engine batches them into one call (batcher.py).
    return EngineInfo(
        engine=ENGINE, source=SOURCE, endpoint=f"local {model_file(model)}", format="tensor",
        capacity="local cpu", slots=CLASSIFIER_SLOTS, resolution=decode_size(model),
        fit="shortest", sends="pixels", unavailable=unavailable,
        fix=INSTALL_HINT if missing else None,
    )


class OnnxKind:
    name = ENGINE

    def describe(self, model: ModelConfig) -> EngineInfo:
        return describe(model)

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine:
        from xmpvision.errors import EngineUnavailable

        info = describe(model)
        if info.unavailable is not None:
            raise EngineUnavailable(info.unavailable, hint=info.fix)
        from xmpvision.engines.onnx.engine import OnnxEngine

        return OnnxEngine(model, thresholds)


KIND = OnnxKind()
