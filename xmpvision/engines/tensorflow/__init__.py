"""The TensorFlow classifier as the registry knows it.

Describing a model needs neither numpy nor TensorFlow (the small install has neither): whether
they are installed is looked up, not imported, and the engine module loads on first use.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from xmpvision.engines.base import EngineInfo

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.base import Engine

ENGINE = "tensorflow"
SOURCE = "image"  # PhotoPrism's source name for classifier labels
INSTALL_HINT = "pip install 'xmpvision[tensorflow]'"


def missing_packages() -> list[str]:
    """The packages the classifier needs that this install lacks."""
    return [name for name in ("numpy", "tensorflow") if not _installed(name)]


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False


def describe(model: ModelConfig) -> EngineInfo:
    from xmpvision.engines.tensorflow.install import model_dir

    missing = missing_packages()
    unavailable = f"tensorflow engine: {' and '.join(missing)} not installed" if missing else None
    # One classification at a time: TensorFlow already uses every core for one batch.
    return EngineInfo(
        engine=ENGINE, source=SOURCE, endpoint=f"local {model_dir(model)}", format="tensor",
        capacity="local cpu", slots=1, resolution=model.image_size, fit="shortest", sends="pixels",
        unavailable=unavailable, fix=INSTALL_HINT if missing else None,
    )


class TensorFlowKind:
    name = ENGINE

    def describe(self, model: ModelConfig) -> EngineInfo:
        return describe(model)

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine:
        from xmpvision.errors import EngineUnavailable

        info = describe(model)
        if info.unavailable is not None:
            raise EngineUnavailable(info.unavailable, hint=info.fix)
        from xmpvision.engines.tensorflow.engine import TensorFlowEngine

        return TensorFlowEngine(model, thresholds)


KIND = TensorFlowKind()
