"""Built-in models and environment defaults applied after vision.yml is validated."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

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
from xmpvision.errors import ConfigError

# Engine names PhotoPrism uses for its local classifier.
_CLASSIFIER_ALIASES = ("tensorflow", "local")


def builtin_model(model_type: str, ollama_uri: str | None = None) -> ModelConfig:
    """The model PhotoPrism would use for a type without an entry, run as the type's row in
    the model-type table says; an Ollama one asks the server at `ollama_uri` (the one the
    user's own entries name), else the default.

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
        run=row.run, service=ServiceConfig(uri=ollama_uri, think=DEFAULT_THINK),
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


def user_ollama_uri(models: list[ModelConfig]) -> str | None:
    """The Ollama server the file's own entries name (the first written), if any."""
    for model in models:
        uri = _written_uri(model)
        if uri and _engine_of(model) == "ollama":
            return uri
    return None


def _written_uri(model: ModelConfig) -> str | None:
    service = model.service
    uri = (service.endpoints[0].uri if service.endpoints else service.uri or "").strip()
    return uri if uri and "${" not in uri else None


def uri_problem(uri: str) -> str | None:
    """Why `uri` is not a server URL a client can connect to (None: it is one). Said when the
    config is loaded, not as an internal error of the first request."""
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"invalid URL {uri!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"invalid URL {uri!r}: give http:// or https:// and the host"
    if not parts.hostname:
        return f"invalid URL {uri!r}: no host"
    if port == 0:
        return f"invalid URL {uri!r}: port 0"
    return None


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
    uri = f"{scheme}://{hostport}" + (f"/{path}" if path else "")
    problem = uri_problem(uri)
    if problem is not None:
        raise ConfigError([f"OLLAMA_HOST: {problem} (from {os.environ['OLLAMA_HOST']!r})"])
    return uri


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
            problem = uri_problem(uri)
            if problem is not None:
                raise ConfigError([f"{defaults.uri_env}: {problem}"])
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
    `local` engine) as its classifier, an entry without an Engine but with a TensorFlow or
    ONNX block (and no service) as that classifier; any other named model without an Engine
    is Ollama's."""
    name = (model.model or model.name or "").strip().lower()
    if model.engine in _CLASSIFIER_ALIASES or (model.engine is None and name == "nasnet"):
        return "tensorflow"
    if model.engine is None and not (model.service.uri or model.service.endpoints):
        if model.tensorflow is not None:
            return "tensorflow"
        if model.onnx is not None:
            return "onnx"
    if model.engine is None and name:
        return DEFAULT_ENGINE
    return model.engine


def _tagged(name: str, version: str | None) -> str:
    """An Ollama-style name:tag, the tag defaulting to latest (or the entry's Version)."""
    if not name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return f"{name}:{version or 'latest'}"


def resolve_model(model: ModelConfig, ollama_uri: str | None = None) -> ModelConfig:
    """One entry with its built-in replacement (asking `ollama_uri` if it is an Ollama
    model), engine, model name and service resolved."""
    if model.default and model.type in SUPPORTED_TYPES:
        # Its own Uri (`photoprism vision save` writes one), else the user's Ollama server.
        builtin = builtin_model(model.type, _written_uri(model) or ollama_uri)
        keep = {"run": model.run, "disabled": model.disabled}
        model = builtin.model_copy(update=keep)
    engine = _engine_of(model)
    defaults = ENGINE_DEFAULTS.get(engine or "")
    update: dict[str, object] = {"engine": engine}
    if defaults is not None:
        # Service.Model is what PhotoPrism sends in place of the entry's name.
        name = ((model.service.model or "").strip() or (model.model or model.name or "").strip()
                or defaults.model)
        update["model"] = _tagged(name, model.version) if defaults.tagged else name
        if defaults.service:
            update["service"] = _resolve_service(model.service, defaults)
    if engine == "tensorflow" and model.tensorflow and model.tensorflow.input:
        # PhotoPrism's description of its input: the size and scaling xmpvision runs it with,
        # unless the entry's own keys say otherwise.
        given = model.tensorflow.input
        if model.resolution is None and (given.width or given.height):
            update["resolution"] = given.width or given.height
        if model.normalization is None:
            update["normalization"] = given.normalization()
    return model.model_copy(update=update)


def apply_defaults(config: VisionConfig, *, has_file: bool) -> VisionConfig:
    """Replace `Default: true` entries, resolve endpoints and keys, append missing types."""
    models = list(config.models) if has_file else _no_file_models()
    present = {m.type for m in models}
    uri = user_ollama_uri(models)
    models += [builtin_model(t, uri) for t in SUPPORTED_TYPES if t not in present]
    resolved = [resolve_model(m, uri) for m in models]
    if has_file:
        # The models appended for the types the file leaves out are best effort.
        resolved[len(config.models):] = [m.as_implicit() for m in resolved[len(config.models):]]
    else:
        resolved = [m.as_implicit() for m in resolved]
    return config.model_copy(update={"models": resolved})


__all__ = ["apply_defaults", "builtin_model", "default_models", "ollama_host", "uri_problem"]
