"""Engines shared by the daemon's jobs: created once (connections, readiness, the health
monitor's hooks), but a failed readiness check expires: a model missing at 02:00 is asked for
again at the next job."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from xmpvision.chain.pool import engine_key
from xmpvision.config.models import ModelConfig
from xmpvision.engines.ollama.engine import OllamaEngine
from xmpvision.errors import EngineError

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine, EngineInfo
    from xmpvision.prepare.images import PhotoImage
    from xmpvision.results import Caption, Label, PhotoResult, Title


class _Kept:
    """An engine a job may 'close': it stays open for the next job. Every other member of the
    Engine protocol is passed through (mypy checks that none is missing)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.info: EngineInfo = engine.info

    def check_ready(self) -> None:
        self.engine.check_ready()

    def labels(self, photo: PhotoImage) -> list[Label]:
        return self.engine.labels(photo)

    def caption(self, photo: PhotoImage) -> Caption:
        return self.engine.caption(photo)

    def title(self, photo: PhotoImage) -> Title:
        return self.engine.title(photo)

    def generate(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        return self.engine.generate(photo, types)

    def close(self) -> None:
        pass


class SharedEngines:
    def __init__(self, make: Callable[[ModelConfig], Engine]) -> None:
        self._make = make
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def factory(self, model: ModelConfig) -> Engine:
        key = engine_key(model)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = self._make(model)
                self._engines[key] = engine
        return _Kept(engine)

    def expire_failures(self) -> None:
        """Before a job: forget every engine that remembers a permanent failure."""
        with self._lock:
            for key, engine in list(self._engines.items()):
                if not isinstance(engine, OllamaEngine):
                    continue
                try:
                    engine.http.raise_fatal()
                except EngineError:
                    engine.close()
                    del self._engines[key]

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()
