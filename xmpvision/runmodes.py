"""Run modes: when a model runs, with PhotoPrism's aliases and its ShouldRun matrix."""

from __future__ import annotations

from enum import StrEnum


class RunMode(StrEnum):
    AUTO = "auto"
    NEVER = "never"
    MANUAL = "manual"
    ALWAYS = "always"
    NEWLY_INDEXED = "newly-indexed"
    ON_DEMAND = "on-demand"
    ON_SCHEDULE = "on-schedule"
    ON_INDEX = "on-index"


# Aliases accepted by PhotoPrism, after folding case and turning "_"/" " into "-".
_ALIASES: dict[str, RunMode] = {
    "manually": RunMode.MANUAL,
    "command": RunMode.MANUAL,
    "on-newly-indexed": RunMode.NEWLY_INDEXED,
    "indexed": RunMode.NEWLY_INDEXED,
    "on-indexed": RunMode.NEWLY_INDEXED,
    "after-index": RunMode.NEWLY_INDEXED,
    "schedule": RunMode.ON_SCHEDULE,
    "index": RunMode.ON_INDEX,
}

ALLOWED_RUN_VALUES: tuple[str, ...] = tuple(m.value for m in RunMode) + tuple(_ALIASES)


def _fold(value: str) -> str:
    return value.strip().lower().replace("_", "-").replace(" ", "-")


def parse_run_mode(value: str | None) -> RunMode | None:
    """The RunMode a config value names, or None when it names none.

    PhotoPrism silently maps unknown values to auto; we report them as config errors instead
    (see config.py), because a typo like "newly_idexed" would otherwise run a slow model inline.
    An empty value means auto, as in PhotoPrism.
    """
    if value is None or not value.strip():
        return RunMode.AUTO
    key = _fold(value)
    try:
        return RunMode(key)
    except ValueError:
        return _ALIASES.get(key)


_RUNS_IN: dict[RunMode, frozenset[RunMode]] = {
    RunMode.NEVER: frozenset(),
    RunMode.MANUAL: frozenset({RunMode.MANUAL}),
    RunMode.ALWAYS: frozenset(RunMode) - {RunMode.NEVER},
    RunMode.NEWLY_INDEXED: frozenset(
        {RunMode.MANUAL, RunMode.NEWLY_INDEXED, RunMode.ON_DEMAND}
    ),
    RunMode.ON_DEMAND: frozenset(
        {
            RunMode.AUTO,
            RunMode.MANUAL,
            RunMode.NEWLY_INDEXED,
            RunMode.ON_DEMAND,
            RunMode.ON_SCHEDULE,
        }
    ),
    RunMode.ON_SCHEDULE: frozenset(
        {RunMode.AUTO, RunMode.MANUAL, RunMode.ON_SCHEDULE, RunMode.ON_DEMAND}
    ),
    RunMode.ON_INDEX: frozenset({RunMode.MANUAL, RunMode.ON_INDEX}),
}

_AUTO_ALWAYS = frozenset({RunMode.AUTO, RunMode.MANUAL, RunMode.ON_DEMAND, RunMode.ON_SCHEDULE})


def should_run(run: RunMode, context: RunMode, *, builtin_default: bool) -> bool:
    """Whether a model with Run `run` runs in `context` (PhotoPrism's ShouldRun).

    `auto` depends on the model: a built-in default (the local classifier) is cheap, so it runs
    inline while indexing; anything else (an Ollama model) runs in the newly-indexed worker.
    """
    if context is RunMode.NEVER:
        return False
    if run is RunMode.AUTO:
        if context in _AUTO_ALWAYS:
            return True
        if context in (RunMode.ON_INDEX, RunMode.ALWAYS):
            return builtin_default
        return context is RunMode.NEWLY_INDEXED and not builtin_default
    return context in _RUNS_IN[run]
