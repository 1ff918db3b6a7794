"""The restart budget of a service: Health.Cooldown since the last restart and
Health.MaxRestarts per hour, counted over every restart of that service on this machine.

The rule is one pure function over the restart history; the history lives in the health store
(shared by the scan unit, the daemon and its reloads, claimed in one write transaction so two
processes facing one incident restart once) or, without a store, in the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

HOUR = 3600.0


@dataclass(frozen=True)
class Restart:
    began: float  # wall-clock seconds (time.time()), comparable across processes
    ended: float | None  # None: still running, or its process died meanwhile


@dataclass(frozen=True)
class Claim:
    """The answer to "may I restart it now?"."""

    id: int | None  # the restart recorded for the caller; None: not granted
    reason: str | None = None  # why not
    last: Restart | None = None  # the last restart before this claim, by any process
    # Another restart began less than RestartTimeout ago and has not ended: the caller waits
    # for the service rather than sending requests into the restart.
    running: Restart | None = None

    @property
    def granted(self) -> bool:
        return self.id is not None


def refusal(history: list[Restart], now: float, *, cooldown: float, max_restarts: int,
            restart_timeout: float) -> Claim | None:
    """Why no restart now (a Claim without an id), or None: restart. `history` is every
    restart of the service in the last hour (and the last one whatever its age)."""
    last = max(history, key=lambda r: r.began, default=None)
    running = last if (last is not None and last.ended is None
                       and now - last.began < restart_timeout) else None
    if last is not None and now - last.began < cooldown:
        return Claim(None, "restarted recently (Health.Cooldown): not restarting it yet",
                     last, running)
    recent = [r for r in history if now - r.began < HOUR]
    if len(recent) >= max_restarts:
        return Claim(None, f"{len(recent)} restarts in the last hour (Health.MaxRestarts): "
                     "not restarting it", last, running)
    if running is not None:  # only with a Cooldown shorter than the restart itself
        return Claim(None, "it is being restarted", last, running)
    return None


class LocalBudget:
    """The budget of one process, for a monitor without a health store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: dict[str, list[Restart]] = {}

    def claim_restart(self, service: str, now: float, *, cooldown: float, max_restarts: int,
                      restart_timeout: float) -> Claim:
        with self._lock:
            history = self._history.setdefault(service, [])
            held = refusal(history, now, cooldown=cooldown, max_restarts=max_restarts,
                           restart_timeout=restart_timeout)
            if held is not None:
                return held
            history.append(Restart(now, None))
            return Claim(len(history))

    def restart_ended(self, service: str, claim: int, now: float) -> None:
        with self._lock:
            history = self._history.get(service, [])
            if 0 < claim <= len(history):
                history[claim - 1] = Restart(history[claim - 1].began, now)

    def last_restart(self, service: str) -> float | None:
        with self._lock:
            return max((r.began for r in self._history.get(service, [])), default=None)
