"""Schedule files: when the daemon runs which model types over which folders.

A schedule file is YAML in vision.yml's style (CamelCase keys) holding one job, or a list of
jobs under `Jobs:`. Errors have vision.yml's shape, `file:line:col: Key.Path: ...`, and every
problem of every file is reported at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from xmpvision.config import yamltree
from xmpvision.config.daemon import Section
from xmpvision.config.defaults import DEFAULT_SCHEDULE_MODELS
from xmpvision.config.duration import parse_duration
from xmpvision.config.models import allowed_keys
from xmpvision.config.yamltree import KeyPath, Position
from xmpvision.errors import ConfigError
from xmpvision.modeltypes import OutputTypeName

SCHEDULES_ENV = "XMPVISION_SCHEDULES"
# A schedule runs any type xmpvision runs (the model-type table's).
ModelTypeName = OutputTypeName
Seconds = Annotated[float, BeforeValidator(parse_duration)]
CRON_WORDS = ("daily", "weekly")

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


class ScheduleJob(Section):
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


class ScheduleFile(Section):
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
            found = parse_schedule_file(yamltree.read_text(path, "schedule file")[0], str(path))
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


def parse_schedule_file(text: str, filename: str) -> list[ScheduleJob]:
    """The jobs of one schedule file's text."""
    node, loader = yamltree.compose(text, filename, "schedule file")
    if node is None:
        raise ConfigError([f"{filename}:1:1: empty schedule file; expected Name, Paths and "
                           "Cron or Every (or a list under Jobs)"])
    reader = yamltree.TreeReader(loader, filename)
    data = reader.read(node, ())
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1:1: a schedule file is a mapping (one job) or "
                           "holds a list under Jobs"])
    if reader.problems:
        raise ConfigError(reader.problems)
    section: type[Section] = ScheduleFile if "Jobs" in data else ScheduleJob
    try:
        parsed = section.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(err, reader.positions, filename, section)
                           for err in exc.errors()]) from None
    if isinstance(parsed, ScheduleFile):
        return list(parsed.jobs)
    assert isinstance(parsed, ScheduleJob)
    return [parsed]


def _problem(err: Mapping[str, Any], positions: dict[KeyPath, Position], filename: str,
             section: type[BaseModel]) -> str:
    loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    where = yamltree.at(filename, positions, loc)
    if err["type"] == "extra_forbidden":
        return f"{where}: {yamltree.unknown_key(loc[-1], allowed_keys(_owner(section, loc[:-1])))}"
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "literal_error":  # Models: [captoin]
        message += _did_you_mean(err.get("input"), _LITERALS.findall(str(err["ctx"]["expected"])))
    return f"{where}: {message}"


_LITERALS = re.compile(r"'([^']*)'")


def _did_you_mean(value: object, choices: list[str]) -> str:
    close = yamltree.closest(value, choices)
    return f"; did you mean {close}?" if close else ""


def _owner(section: type[BaseModel], path: KeyPath) -> type[BaseModel]:
    """The section whose keys live at `path` (ScheduleFile.Jobs[i] is a ScheduleJob)."""
    return ScheduleJob if section is ScheduleFile and path else section
