"""`xmpvision health`: each Ollama service probed once, its verdict, and (asked) a restart.

The probe's generation waits as long as a request of a run would (Service.Timeout), not
RestartTimeout: a service that does not answer within it is down for the runs too."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from xmpvision.config.daemon import HealthConfig
from xmpvision.config.defaults import DEFAULT_READ_TIMEOUT, GPU_LOST_SHARE, HEALTH_CONFIRM_DELAY
from xmpvision.config.models import ModelConfig
from xmpvision.engines.ollama.api import RunningModel
from xmpvision.errors import EngineError, ServiceDown
from xmpvision.health.monitor import Status
from xmpvision.health.probe import Probe, Service, find_running, gpu_share, services_of
from xmpvision.health.restart import restart_service
from xmpvision.health.store import HealthStore


@dataclass
class ModelState:
    name: str
    size: int | None  # bytes; None when not loaded
    size_vram: int | None


@dataclass
class ServiceHealth:
    uri: str
    status: Status
    version: str | None = None
    models: list[ModelState] = field(default_factory=list)
    speed: float | None = None  # generated tokens per second of the probe
    baseline: float | None = None  # the healthy speed learned from runs
    detail: str | None = None
    restarted: bool = False
    restart: str | None = None  # what the restart did, when one was asked for

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_all(models: list[ModelConfig], health: HealthConfig, store: HealthStore | None, *,
              restart: bool = False) -> list[ServiceHealth]:
    results = []
    for service in services_of(models):
        probe = Probe(service, generate_timeout=service.config.timeout or DEFAULT_READ_TIMEOUT)
        try:
            result = check_service(service, probe, health, store)
            if restart and result.status != "ok":
                _restart(result, service, probe, health, store)
        finally:
            probe.close()
        results.append(result)
    return results


def check_service(service: Service, probe: Probe, health: HealthConfig,
                  store: HealthStore | None) -> ServiceHealth:
    result = ServiceHealth(service.shown, "ok")
    try:
        result.version = probe.version()
    except EngineError as exc:
        result.status, result.detail = "down", str(exc)
        _save(store, result)
        return result
    baselines = store.baselines(service.shown) if store is not None else {}
    shares = store.gpu_shares(service.shown) if store is not None else {}
    problems: list[str] = []
    for model in service.models:
        try:
            timing = probe.generate(model)  # loads it, as a request would
        except ServiceDown as exc:  # answers its version, not a generation: wedged
            result.status = "down"
            problems.append(f"{model}: {exc}")
            continue
        except EngineError as exc:
            problems.append(f"{model}: {exc}")
            continue
        # The probe's answer is free text: compared with the runs' free-text decode speed.
        phase, speed = timing.phases()[0]
        base = baselines.get((model, f"{phase}/{timing.kind}"))
        if result.speed is None:
            result.speed, result.baseline = speed, base
        if base is not None and speed < base / health.drift and result.status == "ok":
            result.status = "degraded"
            problems.append(f"{model}: {speed:.3g} tokens/s, baseline {base:.3g}")
    lost = _gpu_lost(probe, service, shares, store)
    if lost:
        time.sleep(HEALTH_CONFIRM_DELAY)  # a second look: a reloading model dips briefly
        lost = _gpu_lost(probe, service, shares, store)
    if lost:
        result.status = "gpu-lost"
        problems.extend(lost)
    result.models = _models(probe, service)
    if problems and result.status == "ok":
        result.status = "degraded"
    result.detail = "; ".join(problems) or None
    _save(store, result)
    return result


def _running(probe: Probe) -> list[RunningModel]:
    try:
        return probe.running()
    except EngineError:
        return []


def _gpu_lost(probe: Probe, service: Service, shares: dict[str, float],
              store: HealthStore | None) -> list[str]:
    lost = []
    running = _running(probe)
    for model in service.models:
        entry = find_running(running, model)
        if entry is None:
            continue
        share, healthy = gpu_share(entry), shares.get(model)
        if healthy and share < healthy * GPU_LOST_SHARE:
            lost.append(f"{model}: {share:.0%} in GPU memory (had {healthy:.0%})")
        elif share > 0 and (healthy is None or share > healthy) and store is not None:
            store.save_gpu_share(service.shown, model, share)
    return lost


def _models(probe: Probe, service: Service) -> list[ModelState]:
    running = _running(probe)
    states = []
    for model in service.models:
        entry = find_running(running, model)
        states.append(ModelState(model, entry.size if entry else None,
                                 entry.size_vram if entry else None))
    return states


def _restart(result: ServiceHealth, service: Service, probe: Probe, health: HealthConfig,
             store: HealthStore | None) -> None:
    if health.restart is None:
        result.restart = "Health.Restart is none: not restarted"
        return
    # Asked for by hand: not held by Cooldown or MaxRestarts, but recorded in the budget the
    # monitors share (and not run into a restart another process has under way).
    claim = None
    if store is not None:
        claim = store.claim_restart(service.shown, time.time(), cooldown=0.0,
                                    max_restarts=sys.maxsize,
                                    restart_timeout=health.restart_timeout)
        if not claim.granted:
            result.restart = f"not restarted: {claim.reason}"
            return
    try:
        outcome = restart_service(probe, health.restart, health.restart_timeout,
                                  list(service.models))
    finally:
        if store is not None and claim is not None and claim.id is not None:
            store.restart_ended(service.shown, claim.id, time.time())
    result.restarted = outcome.command.ok
    result.restart = outcome.command.detail if outcome.back else (
        f"{outcome.command.detail}; no answer within {health.restart_timeout:g}s")
    if store is not None:
        store.event(service.shown, "restart" if outcome.command.ok else "restart-failed",
                    f"xmpvision health --restart ({result.status})")
    if outcome.back:
        again = check_service(service, probe, health, store)
        result.status, result.version, result.models = again.status, again.version, again.models
        result.speed, result.detail = again.speed, again.detail


def _save(store: HealthStore | None, result: ServiceHealth) -> None:
    if store is not None:
        store.save_verdict(result.uri, result.status, version=result.version,
                           speed=result.speed, baseline=result.baseline, detail=result.detail)
