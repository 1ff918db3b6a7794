"""A local classifier as the engine registry knows it: described without importing anything
heavy (whether its packages are installed is looked up, not imported), its engine module
loaded on first use."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from xmpvision.config.defaults import CLASSIFIER_SLOTS
from xmpvision.engines.base import EngineInfo
from xmpvision.errors import EngineUnavailable

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.base import Engine


def missing(packages: Sequence[str]) -> list[str]:
    """The packages of `packages` that this install lacks."""
    return [name for name in packages if not _installed(name)]


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False


def local_info(engine: str, source: str, endpoint: str, resolution: int,
               packages: Sequence[str], install_hint: str) -> EngineInfo:
    """A local classifier's description: it runs on this machine's CPU, several workers'
    photos at once (the engine batches them into one call)."""
    lacking = missing(packages)
    unavailable = f"{engine} engine: {' and '.join(lacking)} not installed" if lacking else None
    return EngineInfo(
        engine=engine, source=source, endpoint=endpoint, format="tensor",
        capacity="local cpu", slots=CLASSIFIER_SLOTS, resolution=resolution, fit="shortest",
        sends="pixels", unavailable=unavailable, fix=install_hint if lacking else None,
    )


class LocalKind:
    def __init__(self, name: str, describe: Callable[[ModelConfig], EngineInfo], module: str,
                 engine_class: str) -> None:
        self.name = name
        self._describe = describe
        self._module = module
        self._class = engine_class

    def describe(self, model: ModelConfig) -> EngineInfo:
        return self._describe(model)

    def create(self, model: ModelConfig, thresholds: Thresholds) -> Engine:
        info = self._describe(model)
        if info.unavailable is not None:
            raise EngineUnavailable(info.unavailable, hint=info.fix)
        engine = getattr(importlib.import_module(self._module), self._class)(model, thresholds)
        return cast("Engine", engine)
