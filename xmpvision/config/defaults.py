"""Built-in models and environment defaults applied after vision.yml is validated."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from xmpvision.config.models import SUPPORTED_TYPES, ModelConfig, ServiceConfig, VisionConfig

DEFAULT_OLLAMA_URI = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "gemma3:latest"
DEFAULT_OLLAMA_RESOLUTION = 720
NASNET_RESOLUTION = 224


def builtin_model(model_type: str) -> ModelConfig:
    """The model PhotoPrism would use for a type without an entry.

    Labels: the local TensorFlow classifier (cheap, runs inline). Caption: Ollama. PhotoPrism
    makes its built-in caption model manual-only; xmpvision's job is captions, so it runs on
    scans too (Run: auto). A user who wants PhotoPrism's behaviour writes `Run: manual`.
    """
    if model_type == "labels":
        return ModelConfig(
            type="labels", default=True, engine="tensorflow", model="nasnet", name="nasnet",
            resolution=NASNET_RESOLUTION,
        )
    if model_type == "caption":
        return ModelConfig(
            type="caption", default=True, engine="ollama", model=DEFAULT_OLLAMA_MODEL,
            resolution=DEFAULT_OLLAMA_RESOLUTION,
        )
    raise ValueError(f"no built-in model for type {model_type!r}")


def _no_file_models() -> list[ModelConfig]:
    # Without a vision.yml: Ollama first for both types, the classifier kept as the fallback.
    return [
        builtin_model("labels"),
        ModelConfig(type="labels", engine="ollama", model=DEFAULT_OLLAMA_MODEL),
        builtin_model("caption"),
    ]


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


def _env_key() -> SecretStr | None:
    key = os.environ.get("OLLAMA_API_KEY", "").strip()
    if key:
        return SecretStr(key)
    key_file = os.environ.get("OLLAMA_API_KEY_FILE", "").strip()
    if key_file:
        return _read_key_file(Path(key_file))
    return None


def _read_key_file(path: Path) -> SecretStr | None:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return SecretStr(key) if key else None


def _resolve_service(service: ServiceConfig) -> ServiceConfig:
    uri = (service.uri or "").strip()
    if not uri or "${" in uri:
        uri = ollama_host()
    key = service.key
    if key is None or "${" in key.get_secret_value() or not key.get_secret_value().strip():
        key = (_read_key_file(service.key_file) if service.key_file else None) or _env_key()
    return service.model_copy(update={"uri": uri.rstrip("/"), "key": key})


def _resolve(model: ModelConfig) -> ModelConfig:
    if model.default and model.type in SUPPORTED_TYPES:
        builtin = builtin_model(model.type)
        keep = {"run": model.run, "disabled": model.disabled}
        model = builtin.model_copy(update=keep)
    engine = model.engine or ("ollama" if model.model or model.name else None)
    update: dict[str, object] = {"engine": engine}
    if engine == "ollama":
        update["service"] = _resolve_service(model.service)
        update["resolution"] = model.resolution or DEFAULT_OLLAMA_RESOLUTION
        if not (model.model or model.name):
            update["model"] = DEFAULT_OLLAMA_MODEL
    elif engine == "tensorflow":
        update["resolution"] = model.resolution or NASNET_RESOLUTION
        if not (model.model or model.name):
            update["model"] = "nasnet"
    return model.model_copy(update=update)


def apply_defaults(config: VisionConfig, *, has_file: bool) -> VisionConfig:
    """Replace `Default: true` entries, resolve endpoints and keys, append missing types."""
    models = list(config.models) if has_file else _no_file_models()
    present = {m.type for m in models}
    models += [builtin_model(t) for t in SUPPORTED_TYPES if t not in present]
    resolved = [_resolve(m) for m in models]
    return config.model_copy(update={"models": resolved})


__all__ = ["apply_defaults", "builtin_model", "ollama_host"]
