"""The daemon's configuration: vision.yml's `Daemon` and `Health` sections, and schedule files.

A schedule file is YAML in vision.yml's style (CamelCase keys) holding one job, or a list of
jobs under `Jobs:`. Errors have vision.yml's shape, `file:line:col: Key.Path: ...` (the
positions come from config/loader.py's tree reader), and every problem of every file is
reported at once.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_pascal

from xmpvision.config import limits
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
    DEFAULT_SCHEDULE_MODELS,
    DEFAULT_WORKER_DEBOUNCE,
    DEFAULT_WORKER_EVERY,
    DEFAULT_WORKER_WATCH,
)
from xmpvision.config.duration import parse_duration
from xmpvision.errors import ConfigError
from xmpvision.modeltypes import OutputTypeName

SCHEDULES_ENV = "XMPVISION_SCHEDULES"
KeyPath = tuple[str | int, ...]

# A schedule runs any type xmpvision runs (the model-type table's).
ModelTypeName = OutputTypeName
Seconds = Annotated[float, BeforeValidator(parse_duration)]
CRON_WORDS = ("daily", "weekly")


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="forbid", frozen=True
    )


class WorkerConfig(_Section):
    """The newly-indexed worker: a pass every `Every`, earlier after a file event (`Watch`)
    once the folders were quiet for `Debounce`."""

    every: Seconds = DEFAULT_WORKER_EVERY
    watch: bool = DEFAULT_WORKER_WATCH
    debounce: Seconds = DEFAULT_WORKER_DEBOUNCE


class DaemonConfig(_Section):
    """vision.yml's `Daemon`: what the newly-indexed worker watches."""

    paths: list[Path] = Field(default_factory=list)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)


def _restart(value: object) -> object:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if value is False:
        return None
    return value


class HealthConfig(_Section):
    """vision.yml's `Health`: how Ollama is watched and what is done when it drifts."""

    interval: Seconds = DEFAULT_HEALTH_INTERVAL
    window: int = Field(default=DEFAULT_HEALTH_WINDOW, ge=3, le=10_000)
    drift: float = Field(default=DEFAULT_HEALTH_DRIFT, gt=1.0, le=1000.0)
    # A command (split like a shell would, but run without one), or None: warn only.
    restart: Annotated[str | None, BeforeValidator(_restart)] = DEFAULT_HEALTH_RESTART
    restart_timeout: Seconds = DEFAULT_HEALTH_RESTART_TIMEOUT
    cooldown: Seconds = DEFAULT_HEALTH_COOLDOWN
    max_restarts: int = Field(default=DEFAULT_HEALTH_MAX_RESTARTS, ge=0, le=1000)


class FallbackConfig(_Section):
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


# --- schedule files ---------------------------------------------------------------------------

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class TimeWindow:
    """Minutes after midnight, local time; `end` < `start` spans midnight."""

    start: int
    end: int

    def contains(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def parse_window(value: str) -> TimeWindow:
    match = _WINDOW.match(value)
    if match is None:
        raise ValueError(f"invalid Window {value!r}; expected HH:MM-HH:MM, e.g. 01:00-06:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"invalid Window {value!r}; hours 00-24, minutes 00-59")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"invalid Window {value!r}: it is empty")
    return TimeWindow(start, end % (24 * 60))


def _cron(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower().lstrip("@") in CRON_WORDS:
        return text.lower().lstrip("@")
    fields = text.split()
    if len(fields) != 5:
        hint = _did_you_mean(text.lower().lstrip("@"), list(CRON_WORDS)) if len(fields) == 1 else ""
        raise ValueError(f"invalid Cron {value!r}: expected 5 fields (minute hour day month "
                         f"weekday), or daily / weekly{hint}")
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text)
    except ValueError as exc:
        raise ValueError(f"invalid Cron {value!r}: {exc}") from None
    return text


class ScheduleJob(_Section):
    """One scheduled job: which folders, when, which model types."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    paths: list[Path] = Field(min_length=1)
    cron: Annotated[str | None, BeforeValidator(_cron)] = None
    every: Seconds | None = None
    models: list[ModelTypeName] = Field(
        default_factory=lambda: list(DEFAULT_SCHEDULE_MODELS),
        min_length=1,
    )
    jitter: Seconds | None = None
    window: str | None = None
    force: bool = False

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_window(value)
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleJob:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of Cron (or daily / weekly) and Every")
        return self

    @property
    def time_window(self) -> TimeWindow | None:
        return None if self.window is None else parse_window(self.window)


class ScheduleFile(_Section):
    jobs: list[ScheduleJob] = Field(min_length=1)


@dataclass(frozen=True)
class Schedules:
    jobs: list[ScheduleJob]
    files: list[Path]


def schedule_dirs() -> list[Path]:
    """Where schedules are looked for without --schedules, first found wins."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    found = [Path(os.environ[SCHEDULES_ENV])] if os.environ.get(SCHEDULES_ENV) else []
    return [*found, config_home / "xmpvision" / "schedules", Path("/etc/xmpvision/schedules")]


def find_schedule_dir(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        if not explicit.is_dir():
            raise ConfigError([f"{explicit}: schedules folder not found"])
        return explicit
    return next((d for d in schedule_dirs() if d.is_dir()), None)


def load_schedules(folder: Path | None) -> Schedules:
    """Every `*.yml` of the folder (None: no schedules); raises ConfigError with every problem
    of every file."""
    if folder is None:
        return Schedules([], [])
    files = sorted(p for p in folder.glob("*.yml") if p.is_file())
    jobs: list[ScheduleJob] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in files:
        try:
            found = parse_schedule_file(_read(path), str(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for job in found:
            if job.name in seen:
                problems.append(f"{path}: Name: job {job.name!r} is already defined in "
                                f"{seen[job.name]}")
                continue
            seen[job.name] = path
            jobs.append(job)
    if problems:
        raise ConfigError(problems)
    return Schedules(jobs, files)


def _read(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.MAX_CONFIG_BYTES + 1)
        if len(data) > limits.MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}:1:1: schedule file larger than "
                               f"{limits.MAX_CONFIG_BYTES} bytes"])
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read schedule file: {exc}"]) from exc


def parse_schedule_file(text: str, filename: str) -> list[ScheduleJob]:
    """The jobs of one schedule file's text."""
    try:
        node, loader = limits.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ConfigError([f"{where}: invalid YAML: {exc.problem or 'syntax error'}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}: invalid YAML: {exc}"]) from exc
    if node is None:
        raise ConfigError([f"{filename}:1:1: empty schedule file; expected Name, Paths and "
                           "Cron or Every (or a list under Jobs)"])
    # Imported here: the loader imports the vision.yml models, which hold this module's
    # sections.
    from xmpvision.config.loader import _TreeReader

    reader = _TreeReader(loader, filename)
    data = reader.read(node, ())
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1:1: a schedule file is a mapping (one job) or "
                           "holds a list under Jobs"])
    if reader.problems:
        raise ConfigError(reader.problems)
    section: type[_Section] = ScheduleFile if "Jobs" in data else ScheduleJob
    try:
        parsed = section.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(err, reader.positions, filename, section)
                           for err in exc.errors()]) from None
    if isinstance(parsed, ScheduleFile):
        return list(parsed.jobs)
    assert isinstance(parsed, ScheduleJob)
    return [parsed]


def _problem(err: Mapping[str, Any], positions: dict[KeyPath, tuple[int, int]], filename: str,
             section: type[BaseModel]) -> str:
    from xmpvision.config.loader import _at, _unknown_key

    loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    where = _at(filename, positions, loc)
    if err["type"] == "extra_forbidden":
        return f"{where}: {_unknown_key(loc[-1], _owner(section, loc[:-1]))}"
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "literal_error":  # Models: [captoin]
        message += _did_you_mean(err.get("input"), _LITERALS.findall(str(err["ctx"]["expected"])))
    return f"{where}: {message}"


_LITERALS = re.compile(r"'([^']*)'")


def _did_you_mean(value: object, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(value).lower(), choices, n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _owner(section: type[BaseModel], path: KeyPath) -> type[BaseModel]:
    """The section whose keys live at `path` (ScheduleFile.Jobs[i] is a ScheduleJob)."""
    return ScheduleJob if section is ScheduleFile and path else section
