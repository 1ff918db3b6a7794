"""The rows of `vision ls`: each type's chain with everything a user needs to check it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from xmpvision.chain.resolve import resolve_chains
from xmpvision.config.models import SUPPORTED_TYPES, ModelConfig, VisionConfig
from xmpvision.engines import describe
from xmpvision.state.parallel import FoundParallel

COLUMNS = (
    "type", "order", "active", "model", "engine", "endpoint", "format", "resolution", "options",
    "parallel", "run", "status",
)


def model_rows(config: VisionConfig,
               found: Mapping[str, FoundParallel] | None = None) -> list[dict[str, Any]]:
    """One row per model, grouped by type, in evaluation order (the stable `vision ls --json`
    shape; `status` is "enabled", "disabled", or "not installed" for an enabled model that
    cannot run on this install, e.g. the classifier without TensorFlow or not downloaded;
    `available` says the same, `problem` why; `active` marks the model PhotoPrism itself
    would run for the type: the first tried). `found`: what `Parallel: auto` found per
    service (the state database's record), shown as `parallel_found` and `parallel_found_at`
    (None when not measured)."""
    rows: list[dict[str, Any]] = []
    for model_type, chain in resolve_chains(config).items():
        for entry in chain:
            model = entry.model
            info = describe(model)
            measured = _found(model, found or {}) if info.auto else None
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
                    "parallel_found": None if measured is None else measured.found,
                    "parallel_found_at": None if measured is None else _iso(measured.at),
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


def _found(model: ModelConfig, found: Mapping[str, FoundParallel]) -> FoundParallel | None:
    """What `Parallel: auto` found for the model: on several endpoints, the sum over those
    it measures, known once each is, as of the oldest finding; None while one is not."""
    parts = [info for info in map(describe, model.endpoint_models()) if info.auto]
    known = [found.get(info.capacity) for info in parts]
    if not known or None in known:
        return None
    measured = [f for f in known if f is not None]
    return FoundParallel(sum(f.found for f in measured), sum(f.most for f in measured),
                         min(f.at for f in measured))


def _iso(at: float) -> str:
    """Local time with its UTC offset, to the second."""
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


def shown_parallel(row: dict[str, Any]) -> str | int:
    """A row's `parallel` as the table shows it: under auto, what the last run found and on
    which day, e.g. "auto (4 found 2026-12-07)"."""
    parallel: str | int = row["parallel"]
    if row["parallel_found"] is None:
        return parallel
    day = datetime.fromisoformat(row["parallel_found_at"]).date().isoformat()
    return f"{parallel} ({row['parallel_found']} found {day})"


def ignored_entries(config: VisionConfig) -> list[str]:
    """The entries of types PhotoPrism runs and xmpvision does not (nsfw, face), as
    `type name (Models[i])`."""
    return [f"{m.type} {m.model_ref or '(built-in)'} (Models[{i}])"
            for i, m in enumerate(config.models)
            if m.type not in SUPPORTED_TYPES and m.type != "generate"]
