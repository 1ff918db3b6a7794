"""A local classifier's description, made without importing anything heavy: whether its
packages are installed is looked up, not imported."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from xmpvision.config.defaults import CLASSIFIER_SLOTS
from xmpvision.engines.base import Abilities, EngineInfo


def missing(packages: Sequence[str]) -> list[str]:
    """The packages of `packages` that this install lacks."""
    return [name for name in packages if not _installed(name)]


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False


# A classifier answers labels only, on this machine, batching the photos of several workers.
CLASSIFIER_ABILITIES = Abilities(answers=("labels",), batches=True)


def local_info(engine: str, source: str, endpoint: str, resolution: int,
               packages: Sequence[str], install_hint: str) -> EngineInfo:
    """A local classifier's description: it runs on this machine's CPU, several workers'
    photos at once (the engine batches them into one call)."""
    lacking = missing(packages)
    unavailable = f"{engine} engine: {' and '.join(lacking)} not installed" if lacking else None
    return EngineInfo(
        engine=engine, source=source, endpoint=endpoint, format="tensor",
        capacity="local cpu", slots=CLASSIFIER_SLOTS, resolution=resolution, fit="shortest",
        sends="pixels", abilities=CLASSIFIER_ABILITIES, unavailable=unavailable,
        fix=install_hint if lacking else None,
    )
