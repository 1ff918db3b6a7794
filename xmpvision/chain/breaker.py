"""A circuit breaker per service endpoint, so that a dead or wedged server costs a few timeouts
in a run, not one per photo.

Closed: requests go through; consecutive service failures (`ServiceDown`: connect errors,
timeouts, dropped connections, 5xx) are counted and any answer resets the count. After
`failures` in a row it opens: requests are refused at once (`CircuitOpen`) and the chain goes
straight to its next model. When the open period is over, the next request first sends the
engine's cheapest probe (Ollama's /api/version); if that answers, the breaker is half-open and
that one request is the trial: an answer closes it, a failure opens it again for twice as long
(up to `open_max`). Models on one endpoint share its breaker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal, TypeVar

from xmpvision.config.defaults import (
    DEFAULT_BREAKER_FAILURES,
    DEFAULT_BREAKER_OPEN,
    DEFAULT_BREAKER_OPEN_MAX,
    HEALTH_PROBE_TIMEOUT,
)
from xmpvision.errors import CircuitOpen, EngineError, ServiceDown
from xmpvision.report import ServiceReport

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["closed", "open", "half-open"]  # as ServiceReport.state


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = DEFAULT_BREAKER_FAILURES
    open_for: float = DEFAULT_BREAKER_OPEN  # seconds
    open_max: float = DEFAULT_BREAKER_OPEN_MAX
    probe_timeout: float = HEALTH_PROBE_TIMEOUT


class Breaker:
    """One endpoint's breaker; thread-safe."""

    def __init__(self, endpoint: str, probe: Callable[[float], None],
                 policy: BreakerPolicy | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint = endpoint  # as messages show it (no secret)
        self.policy = policy or BreakerPolicy()
        self._probe = probe
        self._clock = clock
        self._lock = threading.Lock()
        self.state: State = "closed"
        self._failures = 0
        self._open_for = self.policy.open_for
        self._open_until = 0.0
        self._busy = False  # a probe or the half-open trial is under way
        self._reason: str | None = None
        self._opened = 0
        self._skipped = 0
        self._lost = 0.0

    # --- the callers' side -------------------------------------------------------------------

    def call(self, ask: Callable[[], T],
             hold: Callable[[], AbstractContextManager[object]] = nullcontext, *,
             opens: bool = False) -> T:
        """`ask()` unless the breaker is open. `hold` is what the request waits for before it
        is sent (a slot of the service); the breaker is looked at again after the wait, so
        photos queued behind the failures that opened it are not sent. `opens`: one failure
        opens it (a readiness check, which has already used its retries)."""
        trial = self._admit()
        try:
            return self._send(ask, hold, trial, opens)
        except BaseException:
            if trial:
                self._abandoned(trial)  # no answer either way (a stop, say): not stuck busy
            raise

    def _send(self, ask: Callable[[], T], hold: Callable[[], AbstractContextManager[object]],
              trial: bool, opens: bool) -> T:
        with hold():
            if not trial:
                self._still_closed()
            started = self._clock()
            try:
                answer = ask()
            except ServiceDown as exc:
                self._failed(exc, self._clock() - started, trial, at_once=opens)
                raise
            except EngineError:
                self._answered(trial)  # it answered (a bad answer, no such model): it is up
                raise
        self._answered(trial)
        return answer

    def may_try(self) -> bool:
        """Whether a request now would be sent or probed (not refused at once)."""
        with self._lock:
            if self.state == "closed":
                return True
            return not self._busy and (self.state == "half-open"
                                       or self._clock() >= self._open_until)

    @property
    def next_probe(self) -> float:
        """When (on its clock) an open breaker probes next."""
        with self._lock:
            return self._open_until

    def refused(self) -> CircuitOpen:
        """The error for a request not sent because this endpoint is open (counted)."""
        with self._lock:
            return self._refuse()

    def report(self) -> ServiceReport:
        with self._lock:
            return ServiceReport(self.endpoint, self.state, self._opened, self._skipped,
                                 self._lost, self._reason)

    # --- the states --------------------------------------------------------------------------

    def _refuse(self) -> CircuitOpen:
        self._skipped += 1
        left = max(0.0, self._open_until - self._clock())
        when = "being probed" if self._busy else f"probed again in {left:.0f}s"
        return CircuitOpen(f"{self.endpoint} is down ({self._reason}); not asked, {when}")

    def _admit(self) -> bool:
        """Return whether this request is the half-open trial; raise CircuitOpen when it may
        not be sent."""
        with self._lock:
            if self.state == "closed":
                return False
            if self._busy or (self.state == "open" and self._clock() < self._open_until):
                raise self._refuse()
            self._busy = True
            probing = self.state == "open"
        if probing:
            self._probe_now()
        return True

    def _probe_now(self) -> None:
        started = self._clock()
        try:
            self._probe(self.policy.probe_timeout)
        except EngineError as exc:
            with self._lock:
                self._busy = False
                self._lost += self._clock() - started
                self._open(str(exc), longer=True)
                raise self._refuse() from exc
        except BaseException:
            with self._lock:
                self._busy = False  # still open: the next request probes again
            raise
        with self._lock:
            self.state = "half-open"
        log.info("%s answers its probe again; trying one request", self.endpoint)

    def _still_closed(self) -> None:
        with self._lock:
            if self.state != "closed":
                raise self._refuse()

    def _answered(self, trial: bool) -> None:
        with self._lock:
            self._failures = 0
            if trial:
                self._busy = False
            if self.state == "closed":
                return
            self.state = "closed"
            self._open_for = self.policy.open_for
        log.info("%s is back: requests go to it again", self.endpoint)

    def _failed(self, error: ServiceDown, seconds: float, trial: bool, *,
                at_once: bool = False) -> None:
        with self._lock:
            self._lost += seconds
            if trial:
                self._busy = False
                self._open(str(error), longer=True)
                return
            if self.state != "closed":
                return  # sent before it opened: already counted
            self._failures += 1
            if at_once or self._failures >= self.policy.failures:
                self._open(str(error), longer=False)

    def _abandoned(self, trial: bool) -> None:
        """The trial ended without an answer either way (the photo failed on its own, the run
        stops): the next request is the trial. Harmless after an answer (busy is clear)."""
        if trial:
            with self._lock:
                if self.state == "half-open":
                    self._busy = False

    def _open(self, reason: str, *, longer: bool) -> None:
        """Open (called with the lock held)."""
        if longer:
            self._open_for = min(self._open_for * 2, self.policy.open_max)
        else:
            self._opened += 1
        self.state = "open"
        self._failures = 0
        self._reason = reason
        self._open_until = self._clock() + self._open_for
        log.info("%s is down (%s): not asked for %.0fs, then probed", self.endpoint, reason,
                    self._open_for)


class Breakers:
    """The breakers of a run, one per endpoint (keyed by its capacity key)."""

    def __init__(self, policy: BreakerPolicy | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._breakers: dict[str, Breaker] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: str, probe: Callable[[float], None],
            probe_timeout: float | None = None) -> Breaker:
        """The endpoint's breaker (its capacity key, which messages also show), made on first
        use with `probe`."""
        with self._lock:
            breaker = self._breakers.get(endpoint)
            if breaker is None:
                policy = self.policy
                if probe_timeout is not None and probe_timeout < policy.probe_timeout:
                    policy = BreakerPolicy(policy.failures, policy.open_for, policy.open_max,
                                           probe_timeout)
                breaker = self._breakers[endpoint] = Breaker(endpoint, probe, policy,
                                                             clock=self._clock)
            return breaker

    def reports(self) -> list[ServiceReport]:
        """The breakers that did something (opened, or are not closed)."""
        with self._lock:
            breakers = list(self._breakers.values())
        return [r for r in (b.report() for b in breakers) if r.opened or r.state != "closed"]
