"""The rows of `vision ls`: each type's chain with everything a user needs to check it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from xmpvision.chain import resolve_chains
from xmpvision.config.models import ModelConfig, VisionConfig

COLUMNS = (
    "type", "order", "active", "model", "engine", "endpoint", "format", "resolution", "options",
    "run", "status",
)


def redact_uri(uri: str) -> str:
    """The URI without userinfo (user:password@), which must never be printed.

    Accepts an endpoint with a method in front ("POST http://...") too.
    """
    method, sep, rest = uri.partition(" ")
    if sep and "://" in rest:
        return f"{method} {redact_uri(rest)}"
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, f"***@{netloc}", parts.path, parts.query, parts.fragment))


def _engine_details(model: ModelConfig) -> tuple[str, str, dict[str, Any]]:
    """Endpoint, response format and effective options, as the engine will use them."""
    if model.engine == "ollama":
        from xmpvision.engines import ollama

        return (
            redact_uri(ollama.endpoint(model)),
            ollama.response_format_name(model),
            ollama.effective_options(model),
        )
    if model.engine == "tensorflow":
        from xmpvision.engines import tensorflow

        return f"local {tensorflow.model_dir(model)}", "tensor", {}
    return "", model.format or "", model.options.to_ollama()


def model_rows(config: VisionConfig) -> list[dict[str, Any]]:
    """One row per model, grouped by type, in evaluation order (SPEC §2 `vision ls --json`)."""
    rows: list[dict[str, Any]] = []
    for model_type, chain in resolve_chains(config).items():
        for entry in chain:
            model = entry.model
            endpoint, fmt, options = _engine_details(model)
            rows.append(
                {
                    "type": model_type,
                    "order": entry.order,
                    "active": entry.active,
                    "model": model.model_ref,
                    "engine": model.engine or "",
                    "endpoint": endpoint,
                    "format": fmt,
                    "resolution": model.resolution,
                    "options": options,
                    "run": model.run.value,
                    "status": "enabled" if entry.order is not None else "disabled",
                    "default": model.default,
                    "index": entry.index,
                }
            )
    return rows
