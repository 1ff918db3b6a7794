"""Built-in models and environment defaults applied after vision.yml is validated."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from xmpvision import modeltypes
from xmpvision.config.defaults import (
    DEFAULT_CLASSIFIER_MODEL,
    DEFAULT_ENGINE,
    DEFAULT_OLLAMA_MODEL,
    DEFAULT_OLLAMA_URI,
    DEFAULT_THINK,
    ENGINE_DEFAULTS,
    EngineDefaults,
)
from xmpvision.config.models import (
    SUPPORTED_TYPES,
    EndpointConfig,
    ModelConfig,
    ServiceConfig,
    VisionConfig,
)

# Engine names PhotoPrism uses for its local classifier.
_CLASSIFIER_ALIASES = ("tensorflow", "local")


def builtin_model(model_type: str) -> ModelConfig:
    """The model PhotoPrism would use for a type without an entry, run as the type's row in
    the model-type table says.

    Labels (keywords): the local TensorFlow classifier (cheap, runs inline). Text types:
    Ollama. PhotoPrism makes its built-in caption model manual-only; xmpvision's job is
    captions, so it runs on scans too (Run: auto). A user who wants PhotoPrism's behaviour
    writes `Run: manual`. Title: manual.
    """
    row = modeltypes.row(model_type)
    if row.shape == "keywords":
        return ModelConfig(
            type=model_type, default=True, engine="tensorflow", model=DEFAULT_CLASSIFIER_MODEL,
            run=row.run,
        )
    return ModelConfig(
        type=model_type, default=True, engine="ollama", model=DEFAULT_OLLAMA_MODEL,
        run=row.run, service=ServiceConfig(think=DEFAULT_THINK),
    )


def _no_file_models() -> list[ModelConfig]:
    # Without a vision.yml: Ollama first for both types, the classifier kept as the fallback.
    return [
        builtin_model("labels"),
        ModelConfig(type="labels", engine="ollama", model=DEFAULT_OLLAMA_MODEL,
                    service=ServiceConfig(think=DEFAULT_THINK)),
        builtin_model("caption"),
    ]


def default_models() -> list[ModelConfig]:
    """The Models of a run without a vision.yml (the generated sample writes them)."""
    return _no_file_models()


def ollama_host() -> str:
    """The Ollama endpoint from OLLAMA_HOST (as the ollama CLI reads it), else the default."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return DEFAULT_OLLAMA_URI
    if "://" not in host:
        host = f"http://{host}"
    scheme, rest = host.split("://", 1)
    hostport, _, path = rest.partition("/")
    if hostport.startswith("0.0.0.0"):
        # A bind-all address is where the server listens, not where a client connects.
        hostport = "127.0.0.1" + hostport[len("0.0.0.0"):]
    if ":" not in hostport.rsplit("]", 1)[-1]:
        hostport += ":11434" if scheme == "http" else ":443"
    return f"{scheme}://{hostport}" + (f"/{path}" if path else "")


def _env_key(name: str) -> SecretStr | None:
    """The key in $NAME, else in the file $NAME_FILE names."""
    if not name:
        return None
    key = os.environ.get(name, "").strip()
    if key:
        return SecretStr(key)
    key_file = os.environ.get(f"{name}_FILE", "").strip()
    if key_file:
        return _read_key_file(Path(key_file))
    return None


def _read_key_file(path: Path) -> SecretStr | None:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return SecretStr(key) if key else None


def _resolve_service(service: ServiceConfig, defaults: EngineDefaults) -> ServiceConfig:
    uri = (service.uri or "").strip()
    if not uri or "${" in uri:
        if defaults.uri_env == "OLLAMA_HOST":
            uri = ollama_host()  # the ollama CLI's forms: host, host:port, 0.0.0.0:port
        else:
            uri = os.environ.get(defaults.uri_env, "").strip() or defaults.uri
    key = service.key
    if key is None or "${" in key.get_secret_value() or not key.get_secret_value().strip():
        from_file = _read_key_file(service.key_file) if service.key_file else None
        key = from_file or _env_key(defaults.key_env)
    endpoints = [_resolve_endpoint(ep) for ep in service.endpoints or ()]
    if endpoints:
        uri = endpoints[0].uri  # what a single-endpoint view (a message) names
    return service.model_copy(update={"uri": uri.rstrip("/"), "key": key,
                                      "endpoints": endpoints or None})


def _resolve_endpoint(endpoint: EndpointConfig) -> EndpointConfig:
    key = endpoint.key
    if key is None or "${" in key.get_secret_value() or not key.get_secret_value().strip():
        key = _read_key_file(endpoint.key_file) if endpoint.key_file else None
    return endpoint.model_copy(update={"uri": endpoint.uri.strip().rstrip("/"), "key": key})


def _engine_of(model: ModelConfig) -> str | None:
    """The engine an entry means. PhotoPrism reads `Name: nasnet` without an Engine (and its
    `local` engine) as its classifier; any other named model without an Engine is Ollama's."""
    name = (model.model or model.name or "").strip().lower()
    if model.engine in _CLASSIFIER_ALIASES or (model.engine is None and name == "nasnet"):
        return "tensorflow"
    if model.engine is None and name:
        return DEFAULT_ENGINE
    return model.engine


def _tagged(name: str, version: str | None) -> str:
    """An Ollama-style name:tag, the tag defaulting to latest (or the entry's Version)."""
    if not name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return f"{name}:{version or 'latest'}"


def resolve_model(model: ModelConfig) -> ModelConfig:
    """One entry with its built-in replacement, engine, model name and service resolved."""
    if model.default and model.type in SUPPORTED_TYPES:
        builtin = builtin_model(model.type)
        keep = {"run": model.run, "disabled": model.disabled}
        model = builtin.model_copy(update=keep)
    engine = _engine_of(model)
    defaults = ENGINE_DEFAULTS.get(engine or "")
    update: dict[str, object] = {"engine": engine}
    if defaults is not None:
        name = (model.model or model.name or "").strip() or defaults.model
        update["model"] = _tagged(name, model.version) if defaults.tagged else name
        if defaults.service:
            update["service"] = _resolve_service(model.service, defaults)
    return model.model_copy(update=update)


def apply_defaults(config: VisionConfig, *, has_file: bool) -> VisionConfig:
    """Replace `Default: true` entries, resolve endpoints and keys, append missing types."""
    models = list(config.models) if has_file else _no_file_models()
    present = {m.type for m in models}
    models += [builtin_model(t) for t in SUPPORTED_TYPES if t not in present]
    resolved = [resolve_model(m) for m in models]
    return config.model_copy(update={"models": resolved})


__all__ = ["apply_defaults", "builtin_model", "default_models", "ollama_host"]
