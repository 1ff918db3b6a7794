"""The Ollama health monitor of a run (scan, vision run, the daemon's jobs and the daemon idle).

Two signals per service:
- speed: Ollama's timings of every answer (the engines hand them over). Each is compared like
  with like: a baseline per model, answer kind (schema-constrained or free text: constrained
  decoding is often several times slower per token) and phase (prefill, decode), per token,
  each learned by a detector of its own. An answer's speed relative to its own baselines feeds
  the service's window; drifted = that window's median below 1 / Drift. A run whose mix of
  answer kinds changes therefore compares each answer with its own kind, and a kind without a
  baseline yet is learned, not judged;
- GPU: every `Interval` (earlier after a slow answer) /api/ps is asked; a loaded model whose
  share of VRAM fell well below the share it had healthy, seen by two probes in a row, means
  the GPU was lost (the second look comes early when answers are slow meanwhile). /api/version
  is recorded and a change reported.

On drift the monitor runs `Health.Restart` on its own thread while requests to that service
wait at its pause gate (one that fails because of the restart is tried again, not counted as a
failed photo), waits for /api/version, loads the models again, and opens the gate. Cooldown and
MaxRestarts hold over every process using the same health store (the scan unit, the daemon,
its reloads): the restart is claimed there first, and a process whose incident another one is
already restarting, or has just restarted, waits for the service and measures afresh. A restart
that did not help is said once and not repeated (the chain's fallback keeps working); with
`Restart: none` it only warns. Nothing here raises into a run.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from xmpvision.chain.compose import EngineMaker, Engines
from xmpvision.config.daemon import HealthConfig
from xmpvision.config.defaults import (
    GPU_LOST_SHARE,
    HEALTH_CONFIRM_ANSWERS,
    HEALTH_CONFIRM_DELAY,
    HEALTH_PROBE_TIMEOUT,
)
from xmpvision.config.models import ModelConfig, VisionConfig
from xmpvision.engines.ollama import base_url
from xmpvision.engines.ollama.api import RunningModel
from xmpvision.engines.ollama.timing import Timing
from xmpvision.engines.pause import PauseGate
from xmpvision.errors import EngineError, StateError, redact
from xmpvision.health.budget import Claim, LocalBudget
from xmpvision.health.drift import DriftDetector
from xmpvision.health.probe import Probe, Service, find_running, gpu_share, services_of
from xmpvision.health.restart import restart_service, wait_until_up
from xmpvision.health.store import HealthStore
from xmpvision.state import default_state_path

if TYPE_CHECKING:
    from xmpvision.engines.base import TimedEngine

log = logging.getLogger(__name__)

Status = Literal["ok", "degraded", "gpu-lost", "down"]
UNITS = {"decode": "tokens/s", "prefill": "prompt tokens/s", "wall": "requests/s"}
Key = tuple[str, str]  # (model, "phase/kind"), e.g. ("gemma3:4b", "decode/schema")


@dataclass(frozen=True)
class Incident:
    status: Status
    detail: str


@dataclass
class _Watch:
    """What the monitor knows about one service."""

    service: Service
    probe: Probe
    ratio: DriftDetector  # each answer's speed / its own baselines, learning nothing
    gate: PauseGate = field(default_factory=PauseGate)
    detectors: dict[Key, DriftDetector] = field(default_factory=dict)  # learn the baselines
    baselines: dict[Key, float] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)  # healthy VRAM share per model
    gpu_suspect: bool = False
    slow_since_suspect: int = 0  # slow answers since the first look saw the GPU gone
    pending: Incident | None = None
    restarted: int = 0  # restarts this monitor ran
    seen_restart: float | None = None  # the last restart (by anyone) already accounted for
    settled: float = float("-inf")  # answers to requests sent before this are ignored
    verifying: bool = False  # a restart happened: is the next verdict healthy?
    gave_up: bool = False
    warned: set[str] = field(default_factory=set)
    version: str | None = None
    status: Status = "ok"
    next_probe: float = 0.0
    last: tuple[Key, float] | None = None  # the last speed measured
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def shown(self) -> str:
        return self.service.shown


class HealthMonitor:
    def __init__(self, models: list[ModelConfig], health: HealthConfig,
                 store: HealthStore | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.health = health
        self.store = store
        self._clock = clock
        self._wall = wall  # restarts are recorded in wall time: other processes read them
        self._budget: HealthStore | LocalBudget = store if store is not None else LocalBudget()
        self._watches: dict[str, _Watch] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # Services are watched from the start when their models are given (the daemon probes
        # them between jobs too), else from when a run creates an engine for one.
        for service in services_of(models):
            self._add(service)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # (began, ended) of every restart, monotonic: for the bench and the tests.
        self.restart_times: list[tuple[float, float]] = []

    def _add(self, service: Service) -> _Watch:
        watch = _Watch(service, Probe(service, generate_timeout=self.health.restart_timeout),
                       DriftDetector(self.health.window, self.health.drift, 1.0, learn=False))
        if self.store is not None:
            watch.baselines = self.store.baselines(service.shown)
            watch.shares = self.store.gpu_shares(service.shown)
        watch.seen_restart = self._budget.last_restart(service.shown)
        with self._lock:
            self._watches[service.base_url] = watch
        self._wake.set()
        return watch

    def _watched(self) -> list[_Watch]:
        with self._lock:
            return list(self._watches.values())

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="xmpvision-health",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            # Bounded: the end of a run does not wait out a restart command or a hung probe
            # (the thread is a daemon thread; the gates are opened below either way).
            self._thread.join(timeout=HEALTH_PROBE_TIMEOUT + 1)
            self._thread = None
        for watch in self._watched():
            watch.gate.open()  # never leave a worker waiting

    def close(self) -> None:
        self.stop()
        for watch in self._watched():
            watch.probe.close()

    # --- the engines' side -------------------------------------------------------------------

    def attach(self, engine: TimedEngine, model: ModelConfig) -> None:
        """Watch the engine of one endpoint entry: its answers' timings come here, and its
        requests wait at its service's gate while the monitor restarts it."""
        url = base_url(model)
        with self._lock:
            watch = self._watches.get(url)
        if watch is None:
            watch = self._add(Service(url, redact(url), model.service, (model.model_ref,)))
        elif model.model_ref not in watch.service.models:
            watch.service = replace(watch.service,
                                    models=(*watch.service.models, model.model_ref))
        engine.watch(self.observe, watch.gate)

    def observe(self, timing: Timing) -> None:
        """One answer's timings (called from worker threads)."""
        watch = self._watches.get(timing.service)
        if watch is None or timing.started < watch.settled:
            return
        with watch.lock:
            score = self._score(watch, timing)
            if score is None:
                return  # no baseline for this model and answer kind yet: being learned
            slow = watch.ratio.slow(score)
            reading = watch.ratio.add(score)
            if reading.drifted and watch.pending is None and reading.median is not None:
                watch.pending = Incident("degraded", _speed_detail(
                    watch.last, reading.median, self.health.drift))
                watch.ratio.reset()  # a next incident needs a fresh window
            elif reading.median is not None and watch.verifying and not reading.drifted:
                watch.verifying = False
                log.info("ollama at %s: speed back to normal after the restart", watch.shown)
            elif slow and not watch.gpu_suspect:
                watch.next_probe = min(watch.next_probe, self._clock())  # look at /api/ps now
            elif slow:
                # The first look saw the GPU memory gone: slow answers since confirm it as
                # well as the second look's delay would (a reload's dip is not slow answers).
                watch.slow_since_suspect += 1
                if watch.slow_since_suspect < HEALTH_CONFIRM_ANSWERS:
                    return
                watch.next_probe = min(watch.next_probe, self._clock())
            else:
                return
        self._wake.set()

    def _score(self, watch: _Watch, timing: Timing) -> float | None:
        """The answer's speed as a share of its own baselines (geometric mean over its
        phases), None when none is known yet; teaches the baselines (under watch.lock)."""
        logs: list[float] = []
        for index, (phase, speed) in enumerate(timing.phases()):
            key = (timing.model, f"{phase}/{timing.kind}")
            detector = watch.detectors.get(key)
            if detector is None:
                detector = DriftDetector(self.health.window, self.health.drift,
                                         watch.baselines.get(key))
                watch.detectors[key] = detector
            baseline = detector.baseline
            reading = detector.add(speed)
            if index == 0:  # decode when counted: what a verdict shows
                watch.last = (key, speed)
            if reading.learned and reading.baseline is not None:
                watch.baselines[key] = reading.baseline
                if self.store is not None:
                    self.store.save_baseline(watch.shown, timing.model, key[1],
                                             reading.baseline)
            if baseline:
                logs.append(math.log(speed / baseline))
        return math.exp(sum(logs) / len(logs)) if logs else None

    def gate(self, service: str) -> PauseGate | None:
        watch = self._watches.get(service)
        return None if watch is None else watch.gate

    # --- the monitor's thread ----------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for watch in self._watched():
                if self._stopping.is_set():
                    break
                try:
                    if watch.pending is not None:
                        self._handle(watch)
                    elif self._clock() >= watch.next_probe:
                        self._probe(watch)
                except Exception:
                    log.exception("health monitor of %s", watch.shown)
                    watch.gate.open()
                    watch.next_probe = self._clock() + self.health.interval
            due = min((w.next_probe for w in self._watched()),
                      default=self._clock() + self.health.interval)
            self._wake.wait(max(0.0, due - self._clock()))
            self._wake.clear()

    def _probe(self, watch: _Watch) -> None:
        now = self._clock()
        watch.next_probe = now + self.health.interval
        try:
            version = watch.probe.version()
            running = watch.probe.running()
        except EngineError as exc:
            self._verdict(watch, "down", str(exc))
            return
        if watch.version is not None and version != watch.version:
            log.warning("ollama at %s: version changed from %s to %s", watch.shown,
                        watch.version, version)
            self._event(watch, "version", f"{watch.version} -> {version}")
        watch.version = version
        lost = self._gpu_lost(watch, running)
        if not lost:
            watch.gpu_suspect = False
            self._verdict(watch, "ok" if watch.pending is None else watch.status, None)
            return
        if not watch.gpu_suspect:
            # Confirmed by a second look: a model being reloaded shows a passing dip.
            watch.gpu_suspect = True
            watch.slow_since_suspect = 0
            watch.next_probe = now + min(self.health.interval, HEALTH_CONFIRM_DELAY)
            return
        watch.gpu_suspect = False
        with watch.lock:
            if watch.pending is None:
                watch.pending = Incident("gpu-lost", "; ".join(lost))
        self._handle(watch)

    def _gpu_lost(self, watch: _Watch, running: list[RunningModel]) -> list[str]:
        lost: list[str] = []
        for model in watch.service.models:
            entry = find_running(running, model)
            if entry is None:
                continue
            share = gpu_share(entry)
            healthy = watch.shares.get(model)
            if healthy and share < healthy * GPU_LOST_SHARE:
                lost.append(f"{model} has {share:.0%} of its {entry.size / 2**30:.1f} GiB in GPU "
                            f"memory (had {healthy:.0%})")
            elif share > 0 and (healthy is None or share > healthy):
                watch.shares[model] = share
                if self.store is not None:
                    self.store.save_gpu_share(watch.shown, model, share)
        return lost

    def _handle(self, watch: _Watch) -> None:
        with watch.lock:
            incident, watch.pending = watch.pending, None
        if incident is None:
            return
        self._verdict(watch, incident.status, incident.detail)
        if watch.verifying:
            watch.verifying = False
            watch.gave_up = True
            log.warning("ollama at %s: the restart did not help (%s: %s); not restarting it "
                        "again in this run; models that fail fall back along their chain",
                        watch.shown, incident.status, incident.detail)
            self._event(watch, "gave-up", incident.detail)
            return
        if watch.gave_up:
            return
        reason = self._hold(watch)
        if reason is None:
            claim = self._claim(watch)
            if claim.granted:
                assert claim.id is not None
                self._restart(watch, incident, claim.id)
                return
            if self._restarted_by_another(watch, claim):
                return
            reason = claim.reason
        self._warn_once(watch, reason or "", "ollama at %s is %s (%s); %s", watch.shown,
                        incident.status, incident.detail, reason)

    def _hold(self, watch: _Watch) -> str | None:
        """Why this monitor may never restart the service (None: it may, budget allowing)."""
        if self.health.restart is None:
            return "Health.Restart is none: not restarting it"
        if "restart" not in self.health.model_fields_set and not on_this_host(
                watch.service.base_url):
            # The default restarts this machine's ollama.service: the wrong one for a remote
            # service, so only a command the user wrote may do that.
            return ("it runs on another host: set Health.Restart to a command that restarts "
                    "it there (or none)")
        return None

    def _claim(self, watch: _Watch) -> Claim:
        """Cooldown and MaxRestarts over every restart of the service on this machine."""
        return self._budget.claim_restart(
            watch.shown, self._wall(), cooldown=self.health.cooldown,
            max_restarts=self.health.max_restarts, restart_timeout=self.health.restart_timeout)

    def _restarted_by_another(self, watch: _Watch, claim: Claim) -> bool:
        """When another process restarts (or has just restarted) the service, this incident
        is that one: wait for the service, then judge it afresh as after a restart of ours."""
        last = claim.last
        if last is None or last.began == watch.seen_restart:
            return False
        watch.seen_restart = last.began
        if claim.running is not None:
            log.warning("ollama at %s is being restarted by another process; waiting for it",
                        watch.shown)
            watch.gate.close()
            try:
                wait_until_up(watch.probe.version, self.health.restart_timeout)
            finally:
                self._settle(watch)
        else:
            log.warning("ollama at %s was restarted by another process; measuring afresh",
                        watch.shown)
            self._settle(watch)
        watch.verifying = True
        return True

    def _settle(self, watch: _Watch) -> None:
        """Answers to requests sent before now say nothing about the (restarted) service."""
        now = self._clock()
        with watch.lock:
            watch.settled = now
            watch.ratio.reset()
            for detector in watch.detectors.values():
                detector.reset()
        watch.gate.open()
        watch.gpu_suspect = False
        watch.next_probe = now + min(self.health.interval, HEALTH_CONFIRM_DELAY)

    def _restart(self, watch: _Watch, incident: Incident, claim: int) -> None:
        command = self.health.restart
        assert command is not None
        log.warning("ollama at %s is %s (%s); restarting it: %s", watch.shown, incident.status,
                    incident.detail, command)
        models = sorted({m for m, _ in watch.detectors} | set(watch.service.models))
        began = self._clock()
        watch.gate.close()
        try:
            outcome = restart_service(watch.probe, command, self.health.restart_timeout, models)
        finally:
            self._settle(watch)  # first: the gate opens whatever the store says
            self._budget.restart_ended(watch.shown, claim, self._wall())
        watch.seen_restart = self._budget.last_restart(watch.shown)
        self.restart_times.append((began, self._clock()))
        watch.restarted += 1
        watch.warned.clear()
        if not outcome.command.ok:
            log.warning("ollama at %s: the restart command failed (%s); carrying on",
                        watch.shown, outcome.command.detail)
            self._event(watch, "restart-failed", outcome.command.detail)
        if not outcome.back:
            log.warning("ollama at %s does not answer %gs after the restart", watch.shown,
                        self.health.restart_timeout)
            self._verdict(watch, "down", "no answer after the restart")
            return
        for problem in outcome.problems:
            log.warning("ollama at %s: loading a model after the restart failed: %s",
                        watch.shown, problem)
        if outcome.command.ok:
            log.warning("ollama at %s restarted in %.1fs (version %s)", watch.shown,
                        outcome.command.seconds, outcome.version)
            self._event(watch, "restart", f"{incident.status}: {incident.detail}")
            watch.verifying = True
        if outcome.version != watch.version and watch.version is not None:
            self._event(watch, "version", f"{watch.version} -> {outcome.version}")
        watch.version = outcome.version

    # --- records -------------------------------------------------------------------------------

    def _verdict(self, watch: _Watch, status: Status, detail: str | None) -> None:
        # A change of kind (ok, not ok, down) is told; degraded <-> gpu-lost of one incident
        # is not, or an incident without a restart would say so at every probe.
        if _kind(status) != _kind(watch.status):
            # A service that is down is the chain's to report (once, with the fix); here it
            # is a line for the daemon's log.
            level = logging.WARNING if _kind(status) == "bad" else logging.INFO
            log.log(level, "ollama at %s: %s%s", watch.shown, status,
                    f" ({detail})" if detail else "")
        watch.status = status
        if self.store is None:
            return
        speed = baseline = None
        if watch.last is not None:
            key, speed = watch.last
            baseline = watch.baselines.get(key)
        self.store.save_verdict(watch.shown, status, version=watch.version, speed=speed,
                                baseline=baseline, detail=detail)

    def _event(self, watch: _Watch, event: str, detail: str) -> None:
        if self.store is not None:
            self.store.event(watch.shown, event, detail)

    def _warn_once(self, watch: _Watch, key: str, message: str, *args: object) -> None:
        if key not in watch.warned:
            watch.warned.add(key)
            log.warning(message, *args)

    # --- for tests and status -----------------------------------------------------------------

    def restarts(self, service: str) -> int:
        watch = self._watches.get(service)
        return 0 if watch is None else watch.restarted

    def status(self, service: str) -> Status | None:
        watch = self._watches.get(service)
        return None if watch is None else watch.status


def on_this_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", socket.gethostname().lower(), socket.getfqdn().lower()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _kind(status: Status) -> str:
    return "bad" if status in ("degraded", "gpu-lost") else status


def _speed_detail(last: tuple[Key, float] | None, median: float, drift: float) -> str:
    said = ""
    if last is not None:
        (model, metric), speed = last
        phase, _, kind = metric.partition("/")
        said = (f"; last {model} {'schema-constrained' if kind == 'schema' else 'free-text'} "
                f"answer {speed:.3g} {UNITS.get(phase, phase)}")
    return (f"answers at a median {median:.0%} of their baseline speed (per model, answer "
            f"kind and token) over the window, below 1 / {drift:g}{said}")


@contextmanager
def monitored_engines(config: VisionConfig, state_path: Path | None,
                      make: EngineMaker | None = None) -> Iterator[Engines]:
    """For a long run (`scan`, `vision run`): the run's engines, those that report timings
    watched by a started monitor for the run's duration, baselines kept beside the state."""
    try:
        store: HealthStore | None = HealthStore.beside(
            state_path or default_state_path())
    except StateError as exc:
        log.debug("health records off: %s", exc)  # the run itself will report the database
        store = None
    try:
        # Only the services the run's engines use are watched (a model that never runs here,
        # a service that is not asked, is none of the run's business).
        with monitored([], config.health, store) as monitor:
            engines = Engines(config.thresholds, monitor, make=make)
            try:
                yield engines
            finally:
                engines.close()
    finally:
        if store is not None:
            store.close()


@contextmanager
def monitored(models: list[ModelConfig], health: HealthConfig, store: HealthStore | None,
              ) -> Iterator[HealthMonitor]:
    """A started monitor, stopped and closed at the end."""
    monitor = HealthMonitor(models, health, store)
    monitor.start()
    try:
        yield monitor
    finally:
        monitor.close()
