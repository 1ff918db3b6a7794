"""Asking one Ollama service how it is: /api/version, /api/ps, and a tiny generation whose
timings measure its speed (also used to load a model again after a restart)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from xmpvision.config.defaults import DEFAULT_HEALTH_RESTART_TIMEOUT, HEALTH_PROBE_TIMEOUT
from xmpvision.config.models import ModelConfig, ServiceConfig
from xmpvision.engines.ollama import GENERATE_PATH, base_url
from xmpvision.engines.ollama.api import (
    GenerateChunk,
    GenerateRequest,
    ModelInfo,
    PsResponse,
    RunningModel,
    TagsResponse,
    VersionResponse,
    same_model,
)
from xmpvision.engines.ollama.timing import Timing
from xmpvision.engines.retry import RetryPolicy
from xmpvision.errors import EngineError, EngineUnavailable, redact
from xmpvision.runmodes import RunMode

_Answer = TypeVar("_Answer", bound=BaseModel)

# The speed probe: a short, deterministic answer; its eval rate is what is compared.
PROBE_PROMPT = "Answer with the single word: ready"
PROBE_OPTIONS = {"num_predict": 8, "temperature": 0.0, "seed": 1}


@dataclass(frozen=True)
class Service:
    """One Ollama service and the configured models on it."""

    base_url: str
    shown: str  # redacted: what messages and the state database name
    config: ServiceConfig
    models: tuple[str, ...]  # name:tag


def services_of(models: list[ModelConfig]) -> list[Service]:
    """The Ollama services of the enabled models, in configuration order."""
    found: dict[str, tuple[ServiceConfig, list[str]]] = {}
    for model in models:
        if model.engine != "ollama" or not model.enabled:
            continue
        if model.default and model.run is RunMode.MANUAL:
            continue  # a built-in model that runs only when asked for by name
        url = base_url(model)
        entry = found.setdefault(url, (model.service, []))
        if model.model_ref not in entry[1]:
            entry[1].append(model.model_ref)
    return [Service(url, redact(url), cfg, tuple(names)) for url, (cfg, names) in found.items()]


class Probe:
    """One service's probe: single attempts, no pause gate (it is what the gate waits for).

    Status questions get a short timeout (a hung Ollama is a down one); a generation, which may
    have to load the model first, gets `generate_timeout`."""

    def __init__(self, service: Service, *,
                 generate_timeout: float = DEFAULT_HEALTH_RESTART_TIMEOUT) -> None:
        # Here, not at import: a run watches a service once it has created an engine for it
        # (which loads the HTTP stack), so a run that creates none never loads it.
        from xmpvision.engines.http import HttpService
        from xmpvision.engines.ollama.engine import DIALECT

        self.service = service
        name = ",".join(service.models)
        quick = min(HEALTH_PROBE_TIMEOUT, service.config.timeout or HEALTH_PROBE_TIMEOUT)
        self.http = HttpService(service.base_url, name, _timed(service.config, quick), DIALECT,
                                retry=RetryPolicy(attempts=1))
        self._slow = HttpService(service.base_url, name,
                                 _timed(service.config, generate_timeout), DIALECT,
                                 retry=RetryPolicy(attempts=1))

    def close(self) -> None:
        self.http.close()
        self._slow.close()

    def _get(self, path: str, shape: type[_Answer]) -> _Answer:
        """GET `path`, its answer read as `shape`; EngineError when the service does not
        answer, or not in that shape."""
        raw = self.http.retried(lambda: self.http.send("GET", path))
        try:
            return shape.model_validate_json(raw)
        except ValidationError as exc:
            raise EngineUnavailable(f"unexpected answer from {self.service.shown}{path}"
                                    ) from exc

    def version(self) -> str:
        """Raises EngineError when the service does not answer."""
        return self._get("/api/version", VersionResponse).version

    def running(self) -> list[RunningModel]:
        return self._get("/api/ps", PsResponse).models

    def pulled(self) -> list[str]:
        return [m.name or m.model for m in self.tags()]

    def tags(self) -> list[ModelInfo]:
        """The pulled models, with their details (family)."""
        return self._get("/api/tags", TagsResponse).models

    def generate(self, model: str) -> Timing:
        """A tiny generation (it loads the model when it is not loaded); its timings."""
        # Thinking off: Ollama would turn it on for a model that can think, and the probe's
        # timing would then measure reasoning, not the model's speed.
        body = GenerateRequest(model=model, prompt=PROBE_PROMPT, stream=False, think=False,
                               keep_alive=self.service.config.keep_alive,
                               options=dict(PROBE_OPTIONS)).to_json()
        started = time.monotonic()
        raw = self._slow.retried(lambda: self._slow.send("POST", GENERATE_PATH, body))
        try:
            chunk = GenerateChunk.model_validate_json(raw)
        except ValidationError as exc:
            raise EngineUnavailable(f"unexpected answer from {self.service.shown}"
                                    f"{GENERATE_PATH}") from exc
        if chunk.error:
            raise EngineError(f"ollama failed while answering (model {model}): {chunk.error}")
        return Timing.of(self.service.base_url, model, started, time.monotonic() - started,
                         chunk)


def _timed(config: ServiceConfig, read: float) -> ServiceConfig:
    connect = min(read, config.connect_timeout or read)
    return config.model_copy(update={"timeout": read, "connect_timeout": connect})


def gpu_share(entry: RunningModel) -> float:
    """The share of a loaded model that sits in GPU memory (0 on the CPU)."""
    return entry.size_vram / entry.size if entry.size > 0 else 0.0


def find_running(running: list[RunningModel], model: str) -> RunningModel | None:
    # As Ollama matches names: `Gemma3:4B` in vision.yml is the `gemma3:4b` it runs.
    return next((r for r in running if same_model(model, r.name) or same_model(model, r.model)),
                None)
