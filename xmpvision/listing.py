"""The rows of `vision ls`: each type's chain with everything a user needs to check it."""

from __future__ import annotations

from typing import Any

from xmpvision.chain.resolve import resolve_chains
from xmpvision.config.models import SUPPORTED_TYPES, VisionConfig
from xmpvision.engines import describe

COLUMNS = (
    "type", "order", "active", "model", "engine", "endpoint", "format", "resolution", "options",
    "parallel", "run", "status",
)


def model_rows(config: VisionConfig) -> list[dict[str, Any]]:
    """One row per model, grouped by type, in evaluation order (the stable `vision ls --json`
    shape; `status` is "enabled", "disabled", or "not installed" for an enabled model that
    cannot run on this install, e.g. the classifier without TensorFlow or not downloaded;
    `available` says the same, `problem` why; `active` marks the model PhotoPrism itself
    would run for the type: the first tried)."""
    rows: list[dict[str, Any]] = []
    for model_type, chain in resolve_chains(config).items():
        for entry in chain:
            model = entry.model
            info = describe(model)
            rows.append(
                {
                    "type": model_type,
                    "order": entry.order,
                    "active": entry.active,
                    "model": model.model_ref,
                    "engine": model.engine or "",
                    "endpoint": info.endpoint,
                    "format": info.format,
                    "resolution": info.resolution,
                    "options": info.options,
                    # Requests in flight: a number, or "auto" (found by measuring during a run)
                    "parallel": "auto" if info.auto else info.slots,
                    "run": model.run.value,
                    "status": ("disabled" if entry.order is None else "enabled"
                               if info.unavailable is None else "not installed"),
                    "default": model.default,
                    "index": entry.index,
                    "available": info.unavailable is None,
                    "problem": (f"{info.unavailable}; {info.fix}" if info.fix
                                else info.unavailable),
                }
            )
    return rows


def ignored_entries(config: VisionConfig) -> list[str]:
    """The entries of types PhotoPrism runs and xmpvision does not (nsfw, face), as
    `type name (Models[i])`."""
    return [f"{m.type} {m.model_ref or '(built-in)'} (Models[{i}])"
            for i, m in enumerate(config.models)
            if m.type not in SUPPORTED_TYPES and m.type != "generate"]
