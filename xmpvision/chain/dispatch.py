"""One model on several servers (`Service.Endpoints`, or a `Uri` list): each endpoint is an
engine of its own with its own slots; every request goes to the endpoint that would answer it
soonest (free capacity, weighted by how fast it has answered), and an endpoint whose circuit
breaker is open (it stopped answering) gets no work until its probe answers again. xmpvision
is the client here, not a scheduler of GPUs: it keeps each server as busy as its `Parallel`
allows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from xmpvision.chain.breaker import Breaker
from xmpvision.chain.pool import ServiceSlots
from xmpvision.errors import EngineError, EngineUnavailable, ModelNotFound, is_down

if TYPE_CHECKING:
    from xmpvision.engines.base import Engine, EngineInfo
    from xmpvision.prepare.images import PhotoImage
    from xmpvision.results import PhotoResult

log = logging.getLogger(__name__)

T = TypeVar("T")

# How quickly the measured speed follows changes (weight of the newest request).
SPEED_WEIGHT = 0.2


@dataclass
class _Endpoint:
    engine: Engine
    key: str  # its capacity key in the shared slots
    breaker: Breaker
    seconds: float = 0.0  # smoothed seconds per request; 0 until measured
    gone: EngineError | None = None  # a permanent failure (the model is not on it)


class Dispatch:
    """A model's engine over the engines of its several endpoints; thread-safe."""

    guarded = True  # each endpoint has its breaker

    def __init__(self, endpoints: Sequence[tuple[Engine, EngineInfo, Breaker]],
                 slots: ServiceSlots, info: EngineInfo, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.info = info
        self._slots = slots
        self._clock = clock
        self._endpoints = [_Endpoint(engine, endpoint.capacity, breaker)
                           for engine, endpoint, breaker in endpoints]
        self._lock = threading.Lock()

    # --- the engine interface ---------------------------------------------------------------

    def check_ready(self) -> None:
        """Ready when any endpoint is; the others are left out until they answer."""
        errors: list[EngineError] = []
        for endpoint in self._endpoints:
            try:
                endpoint.breaker.call(endpoint.engine.check_ready, opens=True)
            except EngineError as exc:
                self._failed(endpoint, exc)
                errors.append(exc)
        if len(errors) == len(self._endpoints):
            # An endpoint that is only down may come back: that is the error to raise (the
            # pool gives the model up for the run on any other).
            raise next((e for e in errors if is_down(e)), errors[0])

    def answer(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        return self._call(lambda engine: engine.answer(photo, types), ",".join(types))

    # --- dispatch ------------------------------------------------------------------------------

    def _call(self, ask: Callable[[Engine], T], kind: str) -> T:
        """Ask on the best endpoint; when it cannot answer (down, model missing there), ask the
        next. An answer the model got wrong is not asked again elsewhere: it is the model's."""
        tried: set[str] = set()
        last: EngineError | None = None
        while True:
            candidates = self._candidates(tried)
            if not candidates:
                if last is not None:
                    raise last
                # Every endpoint is open: the request is not sent; the one probed next counts it.
                raise self._soonest_back().refused()
            key = self._slots.acquire([e.key for e in candidates], self._seconds)
            endpoint = next(e for e in candidates if e.key == key)
            started = self._clock()
            try:
                with self._slots.using(key, kind):
                    answer = endpoint.breaker.call(partial(ask, endpoint.engine))
            except (EngineUnavailable, ModelNotFound) as exc:
                self._failed(endpoint, exc)
                tried.add(key)
                last = exc
                continue
            self._answered(endpoint, self._clock() - started)
            return answer

    def _candidates(self, tried: set[str]) -> list[_Endpoint]:
        with self._lock:
            usable = [e for e in self._endpoints if e.key not in tried and e.gone is None]
        return [e for e in usable if e.breaker.may_try()]

    def _soonest_back(self) -> Breaker:
        usable = [e for e in self._endpoints if e.gone is None] or self._endpoints
        return min((e.breaker for e in usable), key=lambda b: b.next_probe)

    def _seconds(self, key: str) -> float:
        """How long a request takes on the endpoint: measured, or, until it is, the average
        of the others (so each endpoint gets tried)."""
        with self._lock:
            endpoint = next(e for e in self._endpoints if e.key == key)
            measured = [e.seconds for e in self._endpoints if e.seconds > 0]
        return endpoint.seconds or (sum(measured) / len(measured) if measured else 1.0)

    def _answered(self, endpoint: _Endpoint, seconds: float) -> None:
        with self._lock:
            endpoint.seconds = seconds if not endpoint.seconds else (
                SPEED_WEIGHT * seconds + (1 - SPEED_WEIGHT) * endpoint.seconds)

    def _failed(self, endpoint: _Endpoint, error: EngineError) -> None:
        if isinstance(error, ModelNotFound):
            with self._lock:
                endpoint.gone = error
            log.warning("%s: no work in this run: %s", endpoint.key, error)
        else:
            log.info("%s: %s; asking another endpoint", endpoint.key, error)
