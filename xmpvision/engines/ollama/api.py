"""Ollama's wire shapes (pydantic).

Only the fields xmpvision uses are modelled; unknown fields are ignored so that newer Ollama
versions keep working.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GenerateRequest(BaseModel):
    """POST /api/generate. Serialise with `to_json()`, which leaves unset fields out."""

    model: str
    prompt: str
    system: str | None = None
    images: list[str] = Field(default_factory=list)  # base64, no data: prefix
    format: str | dict[str, Any] | None = None  # "json" or a JSON Schema
    stream: bool = False
    think: bool | str | None = None
    keep_alive: str | int | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class GenerateChunk(_Wire):
    """One NDJSON line of a streamed answer, or the whole answer when not streaming."""

    response: str = ""
    thinking: str = ""
    done: bool = False
    done_reason: str | None = None
    error: str | None = None
    # Ollama's own timings of the answer (nanoseconds), in the final chunk: the health
    # monitor's speed signal, independent of image size and answer length.
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class ErrorBody(_Wire):
    error: str


class ModelDetails(_Wire):
    family: str = ""  # the model's architecture (GGUF general.architecture): "qwen3vl"


class ModelInfo(_Wire):
    name: str = ""
    model: str = ""
    details: ModelDetails = Field(default_factory=ModelDetails)


# Architectures Ollama's scheduler loads with one parallel slot whatever OLLAMA_NUM_PARALLEL
# says (server/sched.go, Scheduler.load): more requests in flight only queue on the server.
ONE_AT_A_TIME_FAMILIES = frozenset({
    "mllama", "qwen3vl", "qwen3vlmoe", "qwen35", "qwen35moe", "qwen3next", "lfm2", "lfm2moe",
    "nemotron_h", "nemotron_h_moe", "nemotron_h_omni",
})


class TagsResponse(_Wire):
    models: list[ModelInfo] = Field(default_factory=list)


class RunningModel(_Wire):
    """One entry of GET /api/ps: a loaded model and how much of it sits in GPU memory."""

    name: str = ""
    model: str = ""
    size: int = 0
    size_vram: int = 0


class PsResponse(_Wire):
    models: list[RunningModel] = Field(default_factory=list)


class VersionResponse(_Wire):
    version: str = ""


class ShowResponse(_Wire):
    capabilities: list[str] | None = None  # absent before Ollama 0.6


# The parts Ollama fills in when a name leaves them out (types/model.Name).
_DEFAULT_PREFIXES = ("registry.ollama.ai/library/", "registry.ollama.ai/", "library/")


def model_key(name: str) -> str:
    """A model name as Ollama compares it: host, namespace, model and tag each matched
    case-insensitively (strings.EqualFold), a missing tag meaning "latest" and the default
    registry and namespace implied. `Gemma3:4B` and `gemma3:4b` are one model."""
    key = name.strip().casefold()
    for prefix in _DEFAULT_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key if ":" in key.rsplit("/", 1)[-1] else f"{key}:latest"


def same_model(a: str, b: str) -> bool:
    return model_key(a) == model_key(b)


def error_text(body: bytes) -> str:
    """Ollama's `error` text from an error body, or the body itself when it is not JSON."""
    try:
        return ErrorBody.model_validate_json(body).error
    except ValidationError:
        return body.decode("utf-8", "replace").strip()[:500] or "(empty body)"
