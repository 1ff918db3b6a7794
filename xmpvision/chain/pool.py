"""Engines shared by the worker threads of a run: composed and readiness-checked once per model,
and throttled to the capacity of the service (or CPU) they run on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from xmpvision.chain.limit import Limiter, Sample
from xmpvision.config.models import ModelConfig
from xmpvision.engines import served
from xmpvision.errors import EngineError, ServiceDown, is_down

if TYPE_CHECKING:
    from xmpvision.chain.breaker import Breaker
    from xmpvision.engines.base import Engine, EngineInfo
    from xmpvision.prepare.images import PhotoImage
    from xmpvision.results import PhotoResult

RunnerFactory = Callable[[ModelConfig], "Runner"]


class Runner(Protocol):
    """A model's engine as the chain asks it: composed (chain/compose.py) of its endpoints'
    engines, their slots and breakers."""

    info: EngineInfo
    guarded: bool  # its endpoints have circuit breakers: a failed setup may come back

    def check_ready(self) -> None: ...

    def answer(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult: ...


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

    A model that is not ready (not pulled, not installed) is remembered as broken so that a
    run reports one clear error instead of one per file. A service that is down is not: its
    engine is kept and asked again through its circuit breaker, which refuses at once while
    it is open, so a server that comes back mid-run gets work again.
    """

    def __init__(self, factory: RunnerFactory) -> None:
        self._factory = factory
        self._engines: dict[str, Runner] = {}
        self._ready: set[str] = set()
        self._broken: dict[str, EngineError] = {}
        self._setting_up: dict[str, threading.Lock] = {}
        self._down: dict[str, EngineError] = {}  # the last transient failure of its setup
        self._lock = threading.Lock()

    def get(self, model: ModelConfig) -> Runner:
        key = engine_key(model)
        with self._lock:
            self._raise_broken(key)
            engine = self._engines.get(key)
            if engine is not None and key in self._ready:
                return engine
            # One model's creation or readiness check (a probe of a server that was down) does
            # not hold up workers asking for another model.
            setting_up = self._setting_up.setdefault(key, threading.Lock())
            down = self._down.get(key)
        # A server that was down: while one worker probes it, the others are refused at once
        # (their photos go to the next model) rather than wait behind the probe.
        if not setting_up.acquire(blocking=down is None):
            assert down is not None
            raise down.again()
        try:
            return self._set_up(key, model)
        finally:
            setting_up.release()

    def _set_up(self, key: str, model: ModelConfig) -> Runner:
        with self._lock:
            self._raise_broken(key)
            engine = self._engines.get(key)
        try:
            if engine is None:
                engine = self._factory(model)
                with self._lock:
                    self._engines[key] = engine
            if key not in self._ready:
                engine.check_ready()
                with self._lock:
                    self._ready.add(key)
        except EngineError as exc:
            # A service that is down, behind a breaker: asked again once it is back.
            transient = is_down(exc) and engine is not None and engine.guarded
            with self._lock:
                if transient:
                    self._down[key] = exc
                else:
                    self._broken[key] = exc
            raise
        with self._lock:
            self._down.pop(key, None)
        return engine

    def _raise_broken(self, key: str) -> None:
        broken = self._broken.get(key)
        if broken is not None:
            raise broken.again()

    def broken(self, model: ModelConfig) -> bool:
        """Whether the model is known not to run in this run (no request is made)."""
        with self._lock:
            return engine_key(model) in self._broken

class Stopped(Exception):
    """The run is stopping: a request that was still waiting for a slot is not sent."""


class ServiceSlots:
    """Requests in flight per capacity key (an Ollama service, one endpoint of several, this
    machine's CPU): the largest `Parallel` any of its models sets; under `Parallel: auto` (no
    model of the key sets a number), as many as its limiter allows (chain/limit.py), which
    moves with the answers' timings.

    Models that share a service share its slots, so a labels model and a caption model on one
    Ollama never have more requests in flight together than that Ollama serves at once.
    """

    def __init__(self, infos: Iterable[EngineInfo],
                 kept: dict[str, Limiter] | None = None) -> None:
        """`kept`: limiters of earlier runs by key (a daemon's, across its jobs, which take
        turns), resumed where their service and settings are the same; new ones are added."""
        fixed: dict[str, int] = {}
        auto: dict[str, int] = {}
        timeouts: dict[str, float] = {}
        for info in infos:
            key = info.capacity
            sizes = auto if info.auto else fixed
            sizes[key] = max(info.slots, sizes.get(key, 0))
            timeouts[key] = min(info.timeout, timeouts.get(key, info.timeout))
        # The most each key may have in flight (a number fixes it).
        self.sizes = {**auto, **fixed}
        kept = {} if kept is None else kept
        self.limiters: dict[str, Limiter] = {}
        for key, most in auto.items():
            if key in fixed:
                continue
            limiter = kept.get(key)
            if limiter is not None and (limiter.most, limiter.timeout) == (most, timeouts[key]):
                limiter.resume()
            else:
                limiter = kept[key] = Limiter(most, timeouts[key])
            self.limiters[key] = limiter
        self._answered = dict.fromkeys(self.limiters, 0)  # answers in this run, per key
        self._busy = dict.fromkeys(self.sizes, 0)
        self._waiting = dict.fromkeys(self.sizes, 0)
        self._changed = threading.Condition()
        self._stopped = False

    def _size(self, key: str) -> int:
        limiter = self.limiters.get(key)
        return self.sizes[key] if limiter is None else limiter.allowed

    def free(self, key: str) -> int:
        with self._changed:
            return self._size(key) - self._busy[key]

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
                if self._stopped:
                    raise Stopped
                best = min(keys, key=lambda k: self._finish_in(k, seconds(k)))
                if self._busy[best] < self._size(best):
                    self._busy[best] += 1
                    return best
                limiter = self.limiters.get(best)
                if limiter is not None:
                    limiter.wanted()
                self._waiting[best] += 1
                self._changed.wait()
                self._waiting[best] -= 1

    def _finish_in(self, key: str, seconds: float) -> float:
        size = self._size(key)
        if self._busy[key] < size:
            return seconds
        return seconds + seconds * (1 + self._waiting[key]) / size

    def stop(self) -> None:
        """Refuse every request still waiting for a slot, and every later one (Stopped): on
        Ctrl-C or SIGTERM only the requests already sent are waited for, not a queue of photos
        behind a server that stopped answering."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def release(self, key: str, sample: Sample | None = None, *, down: bool = False) -> None:
        """Free the slot; `sample`: what its request took (an answer), `down`: it failed as a
        busy or dead server fails. Either moves the key's limiter under `Parallel: auto`."""
        with self._changed:
            self._busy[key] -= 1
            limiter = self.limiters.get(key)
            if limiter is not None:
                if down:
                    limiter.failed()
                elif sample is not None:
                    limiter.answered(sample)
                    self._answered[key] += 1
            self._changed.notify_all()

    @contextmanager
    def using(self, key: str, kind: str = "") -> Iterator[None]:
        """Release a slot of `key` taken for a request once the request ends, with what it
        took (`kind`: the types asked, so that only like requests are compared)."""
        served.take()  # nothing recorded by an earlier request of this thread
        with self._changed:
            limiter = self.limiters.get(key)
            epoch = 0 if limiter is None else limiter.epoch
        started = time.monotonic()
        if limiter is not None:
            served.on_start(partial(self._started, limiter, epoch, started))
        try:
            yield
        except ServiceDown:
            self.release(key, down=True)
            raise
        except BaseException:
            self.release(key)
            raise
        finally:
            served.on_start(None)
        self.release(key, Sample(time.monotonic() - started, kind, served.take(), epoch))

    def _started(self, limiter: Limiter, epoch: int, sent: float) -> None:
        """A request sent at `sent` began to get its answer (Limiter.started)."""
        seconds = time.monotonic() - sent
        with self._changed:
            if limiter.started(epoch, seconds):
                self._changed.notify_all()

    @contextmanager
    def held(self, key: str, kind: str = "") -> Iterator[None]:
        self.acquire([key])
        with self.using(key, kind):
            yield

    def total(self) -> int:
        """The most requests all keys may have in flight at once."""
        return sum(self.sizes.values())

    def recall(self, found: Mapping[str, int]) -> None:
        """What earlier runs found per key (`measured()` as the state database kept it), for
        the limiters that have measured nothing yet: they go there once their first answer
        begins (or ends, unstreamed) instead of climbing."""
        with self._changed:
            for key, limiter in self.limiters.items():
                if key in found:
                    limiter.recall(found[key])

    def measured(self) -> dict[str, tuple[int, int]]:
        """Per key under `Parallel: auto` that answered a request in this run: (the most
        requests in flight its server was seen to serve at once, the most its limiter may
        allow). A key no answer came from is left out: its `found` is only where its limiter
        starts, or what an earlier run found."""
        with self._changed:
            return {key: (limiter.found, limiter.most) for key, limiter in self.limiters.items()
                    if self._answered[key]}


class Throttled:
    """An endpoint's engine whose requests wait for a free slot of its service and, on a
    server, go through the endpoint's circuit breaker."""

    def __init__(self, engine: Engine, slots: ServiceSlots, info: EngineInfo,
                 breaker: Breaker | None = None) -> None:
        self._engine = engine
        self._slots = slots
        self.info = info
        self.breaker = breaker
        self.guarded = breaker is not None

    def _held(self, kind: str) -> AbstractContextManager[None]:
        return self._slots.held(self.info.capacity, kind)

    def check_ready(self) -> None:
        if self.breaker is None:
            self._engine.check_ready()
        else:
            self.breaker.call(self._engine.check_ready, opens=True)

    def answer(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        def ask() -> PhotoResult:
            return self._engine.answer(photo, types)

        kind = ",".join(types)
        if self.breaker is None:
            with self._held(kind):
                return ask()
        return self.breaker.call(ask, partial(self._held, kind))
