"""The one way an engine is built, for every caller: a scan, `vision run`, `vision test`,
`doctor`, and each daemon job.

A model's engine is composed of layers, bottom up:
- its kind's engine per endpoint (`Engines`: created once, kept until the owner closes them:
  for a run, or across a daemon's jobs), watched by the health monitor when its kind declares
  timings;
- `Throttled`: a free slot of its service, and the endpoint's circuit breaker when its kind
  declares a server;
- over several endpoints, `Dispatch` (the endpoint that answers soonest).
What an engine can do is read from its kind's declared `Abilities`, never from the object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from xmpvision.chain.breaker import Breaker, Breakers
from xmpvision.chain.dispatch import Dispatch
from xmpvision.chain.limit import Limiter
from xmpvision.chain.pool import ServiceSlots, Throttled, engine_key
from xmpvision.config.defaults import DEFAULT_READ_TIMEOUT, HEALTH_PROBE_TIMEOUT
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines import create_engine, describe
from xmpvision.errors import EngineUnavailable

if TYPE_CHECKING:
    from xmpvision.chain.pool import Runner
    from xmpvision.engines.base import Engine, ServerEngine, TimedEngine

EngineMaker = Callable[[ModelConfig], "Engine"]


class Watcher(Protocol):
    """What watches the engines whose kind declares timings (the health monitor)."""

    def attach(self, engine: TimedEngine, model: ModelConfig) -> None: ...


class Engines:
    """The kinds' engines, one per endpoint entry, created on first use and kept until `close`:
    a run's, or a daemon's across its jobs (connections and readiness kept; failures
    remembered in a job are forgotten before the next, `expire_failures`)."""

    def __init__(self, thresholds: Thresholds, watcher: Watcher | None = None, *,
                 make: EngineMaker | None = None) -> None:
        self._make = make or (lambda model: create_engine(model, thresholds))
        self._watcher = watcher
        self._engines: dict[str, Engine] = {}
        # `Parallel: auto`'s limiters per service, resumed by the next run (chain/pool.py).
        self.limiters: dict[str, Limiter] = {}
        self._creating: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, model: ModelConfig) -> Engine:
        """The engine of one endpoint entry (`ModelConfig.endpoint_models()`)."""
        key = engine_key(model)
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                return engine
            # Creating one engine (a classifier imports its runtime) holds up no other.
            creating = self._creating.setdefault(key, threading.Lock())
        with creating:
            with self._lock:
                engine = self._engines.get(key)
            if engine is None:
                engine = self._make(model)
                if self._watcher is not None and engine.info.abilities.timings:
                    self._watcher.attach(cast("TimedEngine", engine), model)
                with self._lock:
                    self._engines[key] = engine
        return engine

    def expire_failures(self) -> None:
        """Forget every failure an engine remembers (a model missing at one job is asked for
        again at the next), whatever its kind."""
        with self._lock:
            engines = list(self._engines.values())
        for engine in engines:
            engine.forget_failures()

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()


def compose(model: ModelConfig, engines: Engines, slots: ServiceSlots,
            breakers: Breakers) -> tuple[Runner, list[Breaker]]:
    """The model's engine, and the breakers of its endpoints.

    Raises EngineUnavailable when the model's engine cannot answer its type (its kind says so:
    a classifier cannot caption), before anything is created."""
    info = describe(model)
    if model.type not in info.abilities.answers:
        raise EngineUnavailable(f"the {info.engine} engine cannot answer {model.type}; "
                                f"it answers {', '.join(info.abilities.answers)}")
    guarded = []
    for part in model.endpoint_models():
        engine = engines.get(part)
        part_info = engine.info
        breaker = None
        if part_info.abilities.server:
            # A probe waits no longer than the requests to that server may.
            seconds = min(HEALTH_PROBE_TIMEOUT, part.service.timeout or DEFAULT_READ_TIMEOUT)
            breaker = breakers.get(part_info.capacity, cast("ServerEngine", engine).probe,
                                   seconds)
        guarded.append((engine, part_info, breaker))
    if len(guarded) == 1:
        engine, part_info, breaker = guarded[0]
        return Throttled(engine, slots, part_info, breaker), [breaker] if breaker else []
    # Several endpoints are a server's: the config allows Endpoints only where a Uri is used.
    with_breakers = [(e, i, b) for e, i, b in guarded if b is not None]
    if len(with_breakers) != len(guarded):
        raise EngineUnavailable(f"the {info.engine} engine runs on this machine; it has no "
                                "endpoints to spread requests over")
    return Dispatch(with_breakers, slots, info), [b for _, _, b in with_breakers]


def check_ready(model: ModelConfig, thresholds: Thresholds) -> None:
    """The model's readiness, checked through the composition a run uses (`doctor`): on
    several endpoints, ready when one is."""
    engines = Engines(thresholds)
    try:
        slots = ServiceSlots(describe(part) for part in model.endpoint_models())
        runner, _ = compose(model, engines, slots, Breakers())
        runner.check_ready()
    finally:
        engines.close()
