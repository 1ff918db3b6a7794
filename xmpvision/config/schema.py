"""A model's own response schema (`Schema`, or `SchemaFile`), read and checked when vision.yml
is loaded, so a missing or broken file is a config error with its position, not a failure
half-way through a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from xmpvision.config import limits
from xmpvision.config.models import ModelConfig

MAX_SCHEMA_BYTES = 1024 * 1024  # a JSON Schema is a few KB; more is a mistake


def read_schema(model: ModelConfig, base: Path | None) -> dict[str, Any] | None:
    """The model's JSON Schema, or None when it has none. `SchemaFile` is relative to the
    folder of the config file (`base`). Raises ValueError with what is wrong."""
    source: object = model.schema_
    if isinstance(source, dict):
        return source
    if isinstance(source, str):
        text = source
    elif model.schema_file is not None:
        path = model.schema_file.expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_SCHEMA_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if len(data) > MAX_SCHEMA_BYTES:
            raise ValueError(f"{path} is larger than {MAX_SCHEMA_BYTES} bytes")
        text = data.decode("utf-8", "replace")
    else:
        return None
    try:
        # YAML is a superset of JSON: both are accepted. Bounded like vision.yml, since the
        # schema is sent with every request.
        value = limits.load(text)
    except limits.LimitExceeded as exc:
        raise ValueError(exc.problem) from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid JSON or YAML: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("expected a JSON Schema object")
    return value


def response_schema(model: ModelConfig) -> dict[str, Any] | None:
    """The schema the loader read for the model (None: it has none)."""
    return model.schema_ if isinstance(model.schema_, dict) else None
