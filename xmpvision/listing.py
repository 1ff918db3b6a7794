"""The rows of `vision ls`: each type's chain with everything a user needs to check it."""

from __future__ import annotations

from typing import Any

from xmpvision.chain.resolve import resolve_chains
from xmpvision.config.models import VisionConfig
from xmpvision.engines import describe

COLUMNS = (
    "type", "order", "active", "model", "engine", "endpoint", "format", "resolution", "options",
    "parallel", "run", "status",
)


def model_rows(config: VisionConfig) -> list[dict[str, Any]]:
    """One row per model, grouped by type, in evaluation order (the stable `vision ls --json`
    shape; `status` is "enabled" or "disabled", `available` says why an enabled model cannot
    run on this install, e.g. the classifier without TensorFlow)."""
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
                    "status": "enabled" if entry.order is not None else "disabled",
                    "default": model.default,
                    "index": entry.index,
                    "available": info.unavailable is None,
                    "problem": (f"{info.unavailable}; {info.fix}" if info.fix
                                else info.unavailable),
                }
            )
    return rows
