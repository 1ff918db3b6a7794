"""The Ollama engine: here its kind (what a model's entry means: endpoint, format, options),
in api.py the wire shapes, in engine.py the engine, which is loaded with the HTTP stack when the
first engine is created (never by a run that asks nothing, such as a rescan of done photos).
"""

from __future__ import annotations

from typing import Any

from xmpvision.config.defaults import DEFAULT_READ_TIMEOUT, DEFAULT_TEMPERATURE, ENGINE_DEFAULTS
from xmpvision.config.models import SUPPORTED_TYPES, ModelConfig
from xmpvision.config.schema import response_schema
from xmpvision.engines import prompts
from xmpvision.engines.base import Abilities, EngineInfo, ModuleKind
from xmpvision.errors import redact

ENGINE = "ollama"
SOURCE = ENGINE_DEFAULTS[ENGINE].source
# A server's models: every type, probed by a breaker, on one or several endpoints; each
# answer's timings watched by the health monitor.
ABILITIES = Abilities(answers=(*SUPPORTED_TYPES, "generate"), server=True,
                      timings=True)
GENERATE_PATH = "/api/generate"
# Low temperatures for every question: labels, captions and titles should describe, not invent.
ENGINE_OPTIONS: dict[str, Any] = {"temperature": DEFAULT_TEMPERATURE}
# PhotoPrism's Uri is the full endpoint; OLLAMA_HOST is a bare host:port.
_API_SUFFIXES = ("/api/generate", "/api/chat", "/api")


# --- module-level views of a model's settings (also used by `vision ls`) --------------------


def base_url(model: ModelConfig) -> str:
    """The Ollama server's base URL, e.g. "http://127.0.0.1:11434" (the config resolved the
    Uri; "${" left after expansion counts as none there)."""
    uri = (model.service.uri or "").strip()
    if "://" not in uri:
        uri = "http://" + uri
    uri = uri.rstrip("/")
    for suffix in _API_SUFFIXES:
        if uri.endswith(suffix):
            uri = uri[: -len(suffix)]
            break
    return uri


def endpoint(model: ModelConfig) -> str:
    """What the engine calls, e.g. "POST http://127.0.0.1:11434/api/generate"."""
    return f"POST {base_url(model)}{GENERATE_PATH}"


def effective_options(model: ModelConfig) -> dict[str, Any]:
    """Ollama `options`: the engine's defaults for the type, overridden by the model's Options."""
    options = dict(ENGINE_OPTIONS)
    options.update(model.options.snake_case())
    return options


def response_format(model: ModelConfig) -> str | dict[str, Any] | None:
    """The request's `format`: "json", a JSON Schema, or None (plain text)."""
    if (model.format or "").strip().lower() == "json":
        return "json"
    schema = response_schema(model)
    if model.type == "labels":
        return schema if schema is not None else prompts.LABELS_SCHEMA
    return schema  # captions are plain text unless the user configured a schema


def response_format_name(model: ModelConfig) -> str:
    """`format` for `vision ls`: "json-schema", "json" or "text"."""
    fmt = response_format(model)
    return "text" if fmt is None else "json" if fmt == "json" else "json-schema"


def capacity_key(url: str) -> str:
    """The capacity key of the Ollama service at `url`: its slots, and what `Parallel: auto`
    found there."""
    return f"{ENGINE} {redact(url)}"


def describe(model: ModelConfig) -> EngineInfo:
    return EngineInfo(
        engine=ENGINE, source=SOURCE, endpoint=redact(endpoint(model)),
        format=response_format_name(model), options=effective_options(model),
        capacity=capacity_key(base_url(model)), slots=model.service.most_parallel,
        auto=model.service.auto_parallel, timeout=model.service.timeout or DEFAULT_READ_TIMEOUT,
        resolution=model.image_size, fit="longest", abilities=ABILITIES,
    )


def think_value(model: ModelConfig) -> bool | str:
    """The request's `think`: the entry's Think, else off (Ollama would turn it on)."""
    think = model.service.think
    return False if think is None else think



KIND = ModuleKind(ENGINE, describe, "xmpvision.engines.ollama.engine", "OllamaEngine")
