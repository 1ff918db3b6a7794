"""vision.yml's long-run sections: `Daemon` (the newly-indexed worker), `Health` (the Ollama
health monitor) and `Fallback` (circuit breakers and upgrades). Schedule files: schedules.py."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic.alias_generators import to_pascal

from xmpvision.config.defaults import (
    DEFAULT_BREAKER_FAILURES,
    DEFAULT_BREAKER_OPEN,
    DEFAULT_BREAKER_OPEN_MAX,
    DEFAULT_FALLBACK_UPGRADE,
    DEFAULT_HEALTH_COOLDOWN,
    DEFAULT_HEALTH_DRIFT,
    DEFAULT_HEALTH_INTERVAL,
    DEFAULT_HEALTH_MAX_RESTARTS,
    DEFAULT_HEALTH_RESTART,
    DEFAULT_HEALTH_RESTART_TIMEOUT,
    DEFAULT_HEALTH_WINDOW,
    DEFAULT_WORKER_DEBOUNCE,
    DEFAULT_WORKER_EVERY,
    DEFAULT_WORKER_WATCH,
)
from xmpvision.config.duration import parse_duration
from xmpvision.modeltypes import OutputTypeName

SCHEDULES_ENV = "XMPVISION_SCHEDULES"
KeyPath = tuple[str | int, ...]

# A schedule runs any type xmpvision runs (the model-type table's).
ModelTypeName = OutputTypeName
Seconds = Annotated[float, BeforeValidator(parse_duration)]
CRON_WORDS = ("daily", "weekly")


class Section(BaseModel):
    """A vision.yml section: CamelCase keys, unknown keys refused, frozen."""


    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="forbid", frozen=True
    )


class WorkerConfig(Section):
    """The newly-indexed worker: a pass every `Every`, earlier after a file event (`Watch`)
    once the folders were quiet for `Debounce`."""

    every: Seconds = DEFAULT_WORKER_EVERY
    watch: bool = DEFAULT_WORKER_WATCH
    debounce: Seconds = DEFAULT_WORKER_DEBOUNCE


class DaemonConfig(Section):
    """vision.yml's `Daemon`: what the newly-indexed worker watches."""

    paths: list[Path] = Field(default_factory=list)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)


def _restart(value: object) -> object:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if value is False:
        return None
    if isinstance(value, str):
        _check_argv(value)
    return value


# Tokens that only mean something to a shell: in an argv command they would reach the program
# as arguments (`docker compose down ollama && ...` hands `&&` to docker).
_SHELL_TOKENS = frozenset({"&&", "||", ";", "|", "&", ">", ">>", "<", "2>", "2>&1"})


def _check_argv(command: str) -> None:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot split the command {command!r}: {exc}") from None
    operators = sorted(_SHELL_TOKENS.intersection(argv))
    if operators:
        raise ValueError(
            f"the command runs without a shell, so {' '.join(operators)} would be passed to "
            f"{argv[0]} as an argument; to run it through /bin/sh -c write "
            f"Restart: {{Shell: {command!r}}}")


class ShellCommand(Section):
    """A restart command run by /bin/sh -c, for commands that need a shell (`&&`, pipes,
    variables)."""

    shell: str = Field(min_length=1)

    def __str__(self) -> str:
        # How the command is shown in the log.
        return f"/bin/sh -c {shlex.quote(self.shell)}"


def _restart_form(value: object) -> str:
    return "form[shell]" if isinstance(value, dict | ShellCommand) else "form[argv]"


# A mapping is the shell form, anything else a command line: errors name only the form written
# (the tags hold "[" so that error positions leave them out, as other validator steps).
RestartCommand = Annotated[
    Annotated[str, Tag("form[argv]")] | Annotated[ShellCommand, Tag("form[shell]")],
    Discriminator(_restart_form),
]


class HealthConfig(Section):
    """vision.yml's `Health`: how Ollama is watched and what is done when it drifts."""

    interval: Seconds = DEFAULT_HEALTH_INTERVAL
    window: int = Field(default=DEFAULT_HEALTH_WINDOW, ge=3, le=10_000)
    drift: float = Field(default=DEFAULT_HEALTH_DRIFT, gt=1.0, le=1000.0)
    # A command (split like a shell would, but run without one), a ShellCommand (run by
    # /bin/sh -c), or None: warn only.
    restart: Annotated[RestartCommand | None, BeforeValidator(_restart)] = (
        DEFAULT_HEALTH_RESTART)
    restart_timeout: Seconds = DEFAULT_HEALTH_RESTART_TIMEOUT
    cooldown: Seconds = DEFAULT_HEALTH_COOLDOWN
    max_restarts: int = Field(default=DEFAULT_HEALTH_MAX_RESTARTS, ge=0, le=1000)


class FallbackConfig(Section):
    """vision.yml's `Fallback`: when a server counts as down (its circuit breaker) and whether
    photos a fallback answered meanwhile are redone once it is back."""

    upgrade: bool = DEFAULT_FALLBACK_UPGRADE
    failures: int = Field(default=DEFAULT_BREAKER_FAILURES, ge=1, le=1000)
    open: Seconds = Field(default=DEFAULT_BREAKER_OPEN, gt=0)
    open_max: Seconds = Field(default=DEFAULT_BREAKER_OPEN_MAX, gt=0)

    @model_validator(mode="after")
    def _open_max_at_least_open(self) -> FallbackConfig:
        if self.open_max < self.open:
            raise ValueError(f"OpenMax ({self.open_max:g}s) is shorter than Open "
                             f"({self.open:g}s); the period only grows from Open")
        return self
