"""`xmpvision config generate` and `config check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from xmpvision.cli import app
from xmpvision.config import parse_config
from xmpvision.config.sample import sample_config

runner = CliRunner()


def test_generate_prints_the_sample() -> None:
    result = runner.invoke(app, ["config", "generate"])
    assert result.exit_code == 0
    assert result.stdout == sample_config()


def test_generate_writes_a_file_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "vision.yml"
    result = runner.invoke(app, ["config", "generate", "-o", str(target)])
    assert result.exit_code == 0, result.output
    parse_config(target.read_text())
    target.write_text("Models: []\n")
    again = runner.invoke(app, ["config", "generate", "-o", str(target)])
    assert again.exit_code == 2
    assert f"{target}: already exists" in again.stderr and "--force" in again.stderr
    assert target.read_text() == "Models: []\n"
    forced = runner.invoke(app, ["config", "generate", "-o", str(target), "--force"])
    assert forced.exit_code == 0
    assert target.read_text() == sample_config()


def test_generate_system_writes_the_units_config(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "etc" / "xmpvision" / "vision.yml"
    monkeypatch.setattr("xmpvision.cli.config.SYSTEM_CONFIG", system)
    result = runner.invoke(app, ["config", "generate", "--system"])
    assert result.exit_code == 0, result.output
    assert system.read_text() == sample_config()
    assert (system.stat().st_mode & 0o777) == 0o644  # the units' user reads it
    assert runner.invoke(app, ["config", "generate", "--system"]).exit_code == 2


def test_generate_names_an_unwritable_target(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["config", "generate", "-o", str(blocker / "vision.yml")])
    assert result.exit_code == 2
    assert f"{blocker / 'vision.yml'}: cannot write" in result.stderr
    assert "Traceback" not in result.output


def test_check_accepts_a_good_config_and_fails_a_broken_one(tmp_path: Path) -> None:
    config = tmp_path / "vision.yml"
    config.write_text(sample_config())
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "a.yml").write_text("Name: a\nPaths: [/srv/photos]\nEvery: 1h\n")
    good = runner.invoke(app, ["config", "check", "--config", str(config), "--schedules",
                               str(schedules)])
    assert good.exit_code == 0, good.output
    assert str(config) in good.stdout and "1 scheduled job" in good.stdout
    config.write_text("Health: {Interval: soon}\n")
    bad = runner.invoke(app, ["config", "check", "--config", str(config), "--schedules",
                              str(schedules)])
    assert bad.exit_code == 2
    assert f"{config}:1:" in bad.stderr and "Interval" in bad.stderr
    config.write_text(sample_config())
    (schedules / "b.yml").write_text("Name: b\nPaths: [/srv/photos]\n")
    broken_schedule = runner.invoke(app, ["config", "check", "--config", str(config),
                                          "--schedules", str(schedules)])
    assert broken_schedule.exit_code == 2
    assert "b.yml" in broken_schedule.stderr
