"""Engines shared by the worker threads of a run: created and readiness-checked once per model,
and throttled to the capacity of the service (or CPU) they run on."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydantic import SecretStr

from xmpvision.config.models import ModelConfig
from xmpvision.errors import EngineError

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine, EngineInfo
    from xmpvision.prepare.images import PhotoImage
    from xmpvision.results import Caption, Label, PhotoResult, Title

EngineFactory = Callable[[ModelConfig], "Engine"]


def engine_key(model: ModelConfig) -> str:
    """What makes two entries the same engine: every setting, secrets included (kept in
    memory only). Unlike id(model), it stays valid when a configuration is reloaded."""

    def plain(value: object) -> object:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value)

    return json.dumps(model.model_dump(), default=plain, sort_keys=True)


class EnginePool:
    """One engine per model, created and readiness-checked once, shared by worker threads.

    A model that is not ready (not pulled, service down at start) is remembered as broken so
    that a run reports one clear error instead of one per file.
    """

    def __init__(self, factory: EngineFactory) -> None:
        self._factory = factory
        self._engines: dict[str, Engine] = {}
        self._broken: dict[str, EngineError] = {}
        self._lock = threading.Lock()

    def get(self, model: ModelConfig) -> Engine:
        key = engine_key(model)
        with self._lock:
            broken = self._broken.get(key)
            if broken is not None:
                raise broken.again()
            engine = self._engines.get(key)
            if engine is None:
                try:
                    engine = self._factory(model)
                    engine.check_ready()
                except EngineError as exc:
                    self._broken[key] = exc
                    raise
                self._engines[key] = engine
            return engine

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()


class ServiceSlots:
    """Requests in flight per capacity key (an Ollama service, one endpoint of several, this
    machine's CPU), at most the largest `slots` any of its models asks for.

    Models that share a service share its slots, so a labels model and a caption model on one
    Ollama never have more requests in flight together than that Ollama serves at once.
    """

    def __init__(self, infos: Iterable[EngineInfo]) -> None:
        sizes: dict[str, int] = {}
        for info in infos:
            sizes[info.capacity] = max(info.slots, sizes.get(info.capacity, 0))
        self.sizes = sizes
        self._busy = dict.fromkeys(sizes, 0)
        self._waiting = dict.fromkeys(sizes, 0)
        self._changed = threading.Condition()

    def free(self, key: str) -> int:
        with self._changed:
            return self.sizes[key] - self._busy[key]

    def acquire(self, keys: Sequence[str],
                seconds: Callable[[str], float] = lambda _key: 1.0) -> str:
        """Take a slot of the one of `keys` that would answer soonest, waiting for it.

        `seconds(key)` is how long a request takes there. A free slot answers in that time; a
        full key also makes the request wait for one of its slots (a slot frees every
        seconds/size on average, later for each request already waiting). So a slow endpoint
        gets work only when waiting for a fast one would take longer than the slow one needs.
        """
        with self._changed:
            while True:
                best = min(keys, key=lambda k: self._finish_in(k, seconds(k)))
                if self._busy[best] < self.sizes[best]:
                    self._busy[best] += 1
                    return best
                self._waiting[best] += 1
                self._changed.wait()
                self._waiting[best] -= 1

    def _finish_in(self, key: str, seconds: float) -> float:
        size = self.sizes[key]
        if self._busy[key] < size:
            return seconds
        return seconds + seconds * (1 + self._waiting[key]) / size

    def release(self, key: str) -> None:
        with self._changed:
            self._busy[key] -= 1
            self._changed.notify_all()

    @contextmanager
    def held(self, key: str) -> Iterator[None]:
        self.acquire([key])
        try:
            yield
        finally:
            self.release(key)

    def total(self) -> int:
        return sum(self.sizes.values())


class Throttled:
    """An engine whose model calls wait for a free slot of its service."""

    def __init__(self, engine: Engine, slots: ServiceSlots, info: EngineInfo) -> None:
        self._engine = engine
        self._slots = slots
        self.info = info

    def check_ready(self) -> None:
        self._engine.check_ready()

    def labels(self, photo: PhotoImage) -> list[Label]:
        with self._slots.held(self.info.capacity):
            return self._engine.labels(photo)

    def caption(self, photo: PhotoImage) -> Caption:
        with self._slots.held(self.info.capacity):
            return self._engine.caption(photo)

    def title(self, photo: PhotoImage) -> Title:
        with self._slots.held(self.info.capacity):
            return self._engine.title(photo)

    def generate(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        with self._slots.held(self.info.capacity):
            return self._engine.generate(photo, types)

    def close(self) -> None:
        self._engine.close()
