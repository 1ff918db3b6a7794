"""Schedule files: one job or a list under Jobs, positioned errors, and their triggers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from xmpvision.config.schedules import (
    SCHEDULES_ENV,
    find_schedule_dir,
    load_schedules,
    parse_schedule_file,
    parse_window,
)
from xmpvision.daemon.schedules import trigger_for, window_end
from xmpvision.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "schedules"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_schedule_file(text, "s.yml")
    return info.value.problems


def test_the_examples_load() -> None:
    schedules = load_schedules(EXAMPLES)
    names = {job.name: job for job in schedules.jobs}
    assert set(names) == {"nightly-library", "hourly-captions", "weekly-labels-refresh"}
    assert names["hourly-captions"].every == 3600 and names["hourly-captions"].models == [
        "caption"]
    assert names["weekly-labels-refresh"].force and names["weekly-labels-refresh"].models == [
        "labels"]
    assert names["nightly-library"].jitter == 1800


def test_one_job_or_a_list_under_jobs() -> None:
    one = parse_schedule_file("Name: a\nPaths: [/p]\nEvery: 90s\n", "s.yml")
    assert [(j.name, j.every, j.models) for j in one] == [("a", 90.0, ["labels", "caption"])]
    many = parse_schedule_file(
        "Jobs:\n  - {Name: a, Paths: [/p], Cron: daily}\n  - {Name: b, Paths: [/q], Every: 2h}\n",
        "s.yml")
    assert [j.name for j in many] == ["a", "b"]


def test_errors_name_file_line_column_and_key() -> None:
    found = problems("Name: a\nPaths: [/p]\nCron: '* * *'\nModels: [faces]\nWindow: 7-9\n")
    assert found[0].startswith("s.yml:3:1: Cron: invalid Cron '* * *'")
    assert found[1].startswith("s.yml:4:10: Models[0]: ")
    assert found[2].startswith("s.yml:5:1: Window: invalid Window '7-9'")
    assert problems("Name: a\nPaths: [/p]\n") == [
        "s.yml:1:1: (top level): give exactly one of Cron (or daily / weekly) and Every"]
    assert problems("Jobs:\n  - {Name: a, Paths: [/p], Every: 1m, Forse: true}\n") == [
        "s.yml:2:39: Jobs[0].Forse: unknown key; did you mean Force? allowed: Name, Paths, "
        "Cron, Every, Models, "
        "Jitter, Window, Force"]
    assert problems("- a\n")[0].startswith("s.yml:1:1: a schedule file is a mapping")


def test_duplicate_names_across_files_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("Name: x\nPaths: [/p]\nEvery: 1m\n")
    (tmp_path / "b.yml").write_text("Name: x\nPaths: [/q]\nEvery: 1m\n")
    (tmp_path / "notes.txt").write_text("not a schedule")
    with pytest.raises(ConfigError) as info:
        load_schedules(tmp_path)
    assert info.value.problems == [f"{tmp_path / 'b.yml'}: Name: job 'x' is already defined "
                                   f"in {tmp_path / 'a.yml'}"]


def test_schedule_folder_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env, home = tmp_path / "env", tmp_path / "home"
    (home / "xmpvision" / "schedules").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv(SCHEDULES_ENV, raising=False)
    assert find_schedule_dir() == home / "xmpvision" / "schedules"
    env.mkdir()
    monkeypatch.setenv(SCHEDULES_ENV, str(env))
    assert find_schedule_dir() == env
    assert find_schedule_dir(tmp_path) == tmp_path
    with pytest.raises(ConfigError):
        find_schedule_dir(tmp_path / "missing")


def test_triggers() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    cron = trigger_for(parse_schedule_file("Name: a\nPaths: [/p]\nCron: '30 2 * * *'\n",
                                           "s.yml")[0])
    assert cron.get_next_fire_time(None, now) == now.replace(day=2, hour=2, minute=30)
    every = trigger_for(parse_schedule_file("Name: a\nPaths: [/p]\nEvery: 5s\n", "s.yml")[0])
    first = every.get_next_fire_time(None, now)
    assert first is not None
    assert every.get_next_fire_time(first, first) == first + timedelta(seconds=5)
    # daily / weekly pick a random time, inside the window when there is one.
    job = parse_schedule_file("Name: a\nPaths: [/p]\nCron: weekly\nWindow: '23:00-01:00'\n",
                              "s.yml")[0]
    for seed in range(50):
        fire = trigger_for(job, random.Random(seed)).get_next_fire_time(None, now)
        assert fire is not None and fire.hour in (23, 0)


def test_window_end_spans_midnight() -> None:
    window = parse_window("22:00-06:00")
    assert window_end(window, datetime(2026, 12, 1, 23, 0)) == datetime(2026, 12, 2, 6, 0)
    assert window_end(window, datetime(2026, 12, 2, 5, 59)) == datetime(2026, 12, 2, 6, 0)
    assert window_end(window, datetime(2026, 12, 2, 12, 0)) is None
    with pytest.raises(ValueError):
        parse_window("06:00-06:00")


def test_schedule_errors_say_what_was_meant() -> None:
    assert problems("Name: a\nPaths: [/x]\nEvry: 1h\n") == [
        "s.yml:3:1: Evry: unknown key; did you mean Every? allowed: Name, Paths, Cron, Every, "
        "Models, Jitter, Window, Force"]
    [models] = problems("Name: a\nPaths: [/x]\nEvery: 1h\nModels: [captoin]\n")
    assert models.startswith("s.yml:4:") and models.endswith("did you mean caption?")
    [cron] = problems("Name: a\nPaths: [/x]\nCron: dayly\n")
    assert cron.endswith("did you mean daily?")
    [nested] = problems("Jobs:\n  - {Name: a, Paths: [/x], Every: 1h, Froce: true}\n")
    assert "Froce: unknown key; did you mean Force?" in nested
