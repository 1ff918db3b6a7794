"""`xmpvision doctor`: the checks a newcomer's set-up needs, one verdict each with its fix."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx

from xmpvision.chain.compose import check_ready
from xmpvision.chain.resolve import describe_model
from xmpvision.config import LoadedConfig, load_config
from xmpvision.config.defaults import AUTO_PARALLEL_MAX, DOWNLOAD_PROBE_TIMEOUT
from xmpvision.config.models import ModelConfig, ServiceConfig, Thresholds
from xmpvision.config.schedules import find_schedule_dir, load_schedules
from xmpvision.engines import describe
from xmpvision.engines.ollama import capacity_key
from xmpvision.engines.ollama.api import ONE_AT_A_TIME_FAMILIES, RunningModel, same_model
from xmpvision.engines.ollama.engine import DIALECT
from xmpvision.engines.tensorflow import INSTALL_HINT, missing_packages
from xmpvision.errors import ConfigError, EngineError
from xmpvision.health.probe import Probe, Service, find_running, gpu_share, services_of
from xmpvision.state import FoundParallel, read_found

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    message: str
    fix: str | None = None


def run_checks(config: Path | None, state: Path, library: Sequence[Path],
               schedules: Path | None = None) -> list[Check]:
    checks: list[Check] = []
    loaded = _config(config, checks)
    if loaded is None:
        return checks
    models = [m for m in loaded.config.models if m.enabled]
    found = read_found(state)  # before the state check, which creates the database
    for service in services_of(models):
        checks.extend(_service(service, found.get(capacity_key(service.base_url))))
    checks.extend(_classifier(models))
    # Every other engine (an OpenAI-compatible server, an ONNX model) is asked what it asks
    # at the start of a run.
    for model in models:
        if model.engine not in ("ollama", "tensorflow"):
            checks.extend(_ready(part, loaded.config.thresholds)
                          for part in model.endpoint_models())
    checks.append(_state(state))
    checks.append(_schedules(schedules))
    roots = list(library) or list(loaded.config.daemon.paths)
    if not roots:
        checks.append(Check("library", "warn", "no folder to check",
                            "pass the library folder: xmpvision doctor /srv/photos "
                            "(or set Daemon.Paths in vision.yml)"))
    checks.extend(_library(root) for root in roots)
    return checks


def _config(path: Path | None, checks: list[Check]) -> LoadedConfig | None:
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        checks.append(Check("config", "fail", "; ".join(exc.problems),
                            "fix the lines named (file:line:col)"))
        return None
    if loaded.path is None:
        checks.append(Check("config", "warn", "no vision.yml found: the built-in configuration "
                            "is used", "write ~/.config/xmpvision/vision.yml or "
                            "/etc/xmpvision/vision.yml, or pass --config"))
    else:
        checks.append(Check("config", "ok", f"{loaded.path} is valid"))
    checks.extend(Check("config", "warn", warning) for warning in loaded.warnings)
    return loaded


def _service(service: Service, found: FoundParallel | None) -> list[Check]:
    name = f"ollama {service.shown}"
    probe = Probe(service)
    try:
        try:
            version = probe.version()
        except EngineError as exc:
            return [Check(name, "fail", f"not reachable: {exc}", DIALECT.connect_hint)]
        checks = [Check(name, "ok", f"reachable, version {version}")]
        try:
            pulled = probe.tags()
            running = probe.running()
        except EngineError as exc:
            return [*checks, Check(name, "fail", str(exc), "check the Ollama server's logs")]
        checks.append(_parallel(f"parallel {service.shown}", service.config, found))
        for model in service.models:
            entry = next((m for m in pulled if same_model(model, m.name or m.model)), None)
            if entry is None:
                checks.append(Check(f"model {model}", "fail", f"not pulled on {service.shown}",
                                    f"ollama pull {model}"))
                continue
            checks.append(Check(f"model {model}", "ok", "pulled"))
            checks.append(_residency(model, running))
            if entry.details.family in ONE_AT_A_TIME_FAMILIES:
                checks.append(_one_at_a_time(model, entry.details.family, service.config))
        return checks
    finally:
        probe.close()


def _parallel(name: str, config: ServiceConfig, found: FoundParallel | None) -> Check:
    """`found`: what the last run that asked the service found, as the state database keeps
    it."""
    if not config.auto_parallel:
        return Check(name, "ok", f"Parallel: {config.parallel} requests at once (fixed)")
    if found is None:
        return Check(name, "ok", f"Parallel: auto: not measured yet; each scan measures how "
                     f"many requests it serves at once (1 to {AUTO_PARALLEL_MAX}; `scan -v` "
                     "and --json say what it found)")
    when = datetime.fromtimestamp(found.at).strftime("%Y-%m-%d %H:%M")
    requests = "1 request" if found.found == 1 else f"{found.found} requests"
    return Check(name, "ok", f"Parallel: auto, {requests} at once found by the run of {when} "
                 f"(at most {found.most} allowed); each scan measures it again")


def _one_at_a_time(model: str, family: str, config: ServiceConfig) -> Check:
    """Ollama serves some architectures one request at a time, whatever OLLAMA_NUM_PARALLEL
    says."""
    said = (f"Ollama runs its family ({family}) one request at a time whatever "
            "OLLAMA_NUM_PARALLEL says")
    name = f"parallel {model}"
    if config.auto_parallel:
        return Check(name, "warn", f"{said}; Parallel: auto will find 1",
                     "a model of another family serves several requests at once")
    if config.parallel == 1:
        return Check(name, "ok", f"{said}; Parallel: 1 matches")
    return Check(name, "warn", f"{said}; Parallel: {config.parallel} only queues requests on "
                 "the server, where their wait counts against the read timeout",
                 "set Parallel: auto (the default) or 1")


def _ready(model: ModelConfig, thresholds: Thresholds) -> Check:
    info = describe(model)
    name = f"model {describe_model(model)}"
    where = f" at {info.endpoint}" if info.endpoint else ""
    if info.unavailable is not None:
        return Check(name, "fail", info.unavailable, info.fix)
    try:
        check_ready(model, thresholds)
    except EngineError as exc:
        return Check(name, "fail", f"not ready{where}: {exc}", exc.hint)
    return Check(name, "ok", f"ready{where}")


def _residency(model: str, running: list[RunningModel]) -> Check:
    entry = find_running(running, model)
    name = f"gpu {model}"
    if entry is None:
        return Check(name, "warn", "not loaded now, so its GPU residency is unknown",
                     "run `xmpvision health` (loads it and measures its speed)")
    share = gpu_share(entry)
    if share >= 0.999:
        return Check(name, "ok", "fully in GPU memory")
    if share > 0:
        return Check(name, "warn", f"{share:.0%} in GPU memory, the rest on the CPU",
                     "a smaller model or quantisation fits the GPU; or lower NumCtx")
    return Check(name, "warn", "runs on the CPU (size_vram 0)",
                 "if this host has a GPU, Ollama lost it: `xmpvision health --restart`")


def _classifier(models: list[ModelConfig]) -> list[Check]:
    from xmpvision.engines.tensorflow.install import (
        ENV_MODEL_URL,
        ENV_NO_DOWNLOAD,
        MODEL_URL,
        model_dir,
        truthy,
    )

    classifiers = [m for m in models if m.engine == "tensorflow"]
    missing = missing_packages()
    if missing:
        level: Level = "warn" if classifiers else "ok"
        checks = [Check("tensorflow", level, f"not installed ({', '.join(missing)} missing)"
                        + ("; the labels fallback cannot run" if classifiers else ""),
                        INSTALL_HINT if classifiers else None)]
    else:
        checks = [Check("tensorflow", "ok", "installed")]
    for model in classifiers:
        folder = model_dir(model)
        if folder.is_dir() and any(folder.iterdir()):
            checks.append(Check("classifier", "ok", f"model at {folder}"))
        elif truthy(os.environ.get(ENV_NO_DOWNLOAD)):
            checks.append(Check("classifier", "warn", f"no model at {folder}; downloads are "
                                f"off ({ENV_NO_DOWNLOAD})", f"unpack {MODEL_URL} into {folder}"))
        else:
            url = os.environ.get(ENV_MODEL_URL) or MODEL_URL
            problem = _unreachable(url)
            if problem is None:
                checks.append(Check("classifier", "ok", f"no model at {folder} yet; "
                                    f"downloaded there on first use from {url}"))
            else:
                # An offline NAS: the first run would find no model and no way to get one.
                checks.append(Check("classifier", "warn", f"no model at {folder}, and {url} "
                                    f"cannot be fetched: {problem}", f"fetch {url} elsewhere "
                                    "and install it with `xmpvision models pull nasnet "
                                    "--file FILE`"))
    return checks


def _unreachable(url: str) -> str | None:
    """Why `url` cannot be downloaded from here (None: it answers 200). Only the headers are
    read, not the model."""
    try:
        with httpx.Client(timeout=DOWNLOAD_PROBE_TIMEOUT, follow_redirects=True) as client, \
                client.stream("GET", url) as response:
            if response.status_code != httpx.codes.OK:
                return f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        return str(exc) or type(exc).__name__
    return None


def _state(state: Path) -> Check:
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(state, timeout=5)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        return Check("state", "fail", f"{state} is not writable: {exc}",
                     "pass --state FILE in a writable folder, or fix the folder's owner")
    return Check("state", "ok", f"{state} is writable")


def _schedules(folder: Path | None) -> Check:
    try:
        found = find_schedule_dir(folder)
        schedules = load_schedules(found)
    except ConfigError as exc:
        return Check("schedules", "fail", "; ".join(exc.problems),
                     "fix the lines named (file:line:col)")
    if found is None:
        return Check("schedules", "ok", "no schedules folder (only needed by the daemon)")
    return Check("schedules", "ok", f"{len(schedules.jobs)} job(s) in {found}")


def _library(root: Path) -> Check:
    name = f"library {root}"
    if not root.is_dir():
        return Check(name, "fail", "no such folder", "check the path (and that the share is "
                     "mounted)")
    if not os.access(root, os.W_OK | os.X_OK):
        return Check(name, "fail", "sidecars cannot be written here (not writable by this user)",
                     "give this user write access, and list the folder in the unit's "
                     "ReadWritePaths=")
    return Check(name, "ok", "sidecars can be written")
