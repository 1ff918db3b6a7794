"""Health.Restart: a string runs without a shell (argv); `{Shell: ...}` runs by /bin/sh -c."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from xmpvision.config import parse_config
from xmpvision.config.daemon import ShellCommand
from xmpvision.errors import ConfigError
from xmpvision.health.restart import run_command

# Writes its arguments, one per line, to the file named first.
_ECHO_ARGS = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('\\n'.join(sys.argv[2:]))"


def _restart(yaml: str) -> str | ShellCommand | None:
    return parse_config(f"Health: {{Restart: {yaml}}}\n").health.restart


def test_a_string_runs_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "args"
    command = (f"{shlex.quote(sys.executable)} -c {shlex.quote(_ECHO_ARGS)} {out} "
               "'$HOME' '*' 'a b'")
    result = run_command(command, timeout=20)
    assert result.ok, result.detail
    # No expansion, no globbing, quoting kept: what a shell would not leave alone.
    assert out.read_text().splitlines() == ["$HOME", "*", "a b"]


def test_a_shell_command_runs_through_sh(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    restart = _restart(f'{{Shell: "echo down > {first} && echo up > {second}"}}')
    assert isinstance(restart, ShellCommand)
    result = run_command(restart, timeout=20)
    assert result.ok, result.detail
    assert first.read_text() == "down\n" and second.read_text() == "up\n"
    assert str(restart).startswith("/bin/sh -c ")  # as the log shows it


def test_a_failing_shell_command_reports_its_status(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    result = run_command(ShellCommand(shell=f"false && touch {ran}; exit 3"), timeout=20)
    assert not result.ok
    assert result.detail.startswith("exit status 3")
    assert not ran.exists()  # && stopped at the failure, as in a shell


def test_shell_operators_in_a_string_are_a_config_error_pointing_at_shell() -> None:
    compose = ("docker compose -f /opt/photoprism/compose.yml down ollama && "
               "docker compose -f /opt/photoprism/compose.yml up -d ollama")
    with pytest.raises(ConfigError) as caught:
        _restart(f'"{compose}"')
    problem = "\n".join(caught.value.problems)
    assert "Health.Restart" in problem and "&&" in problem
    assert "without a shell" in problem and "Shell:" in problem
    assert isinstance(_restart(f'{{Shell: "{compose}"}}'), ShellCommand)


@pytest.mark.parametrize("yaml", ["none", "''"])
def test_none_still_means_warn_only(yaml: str) -> None:
    assert _restart(yaml) is None


@pytest.mark.parametrize("yaml", ["{Shell: ''}", "{Shell: a, Argv: b}", "'unclosed \"quote'"])
def test_a_bad_restart_is_a_config_error(yaml: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _restart(yaml)
    assert all("Health.Restart" in p for p in caught.value.problems)


def test_the_default_stays_argv() -> None:
    restart = parse_config("").health.restart
    assert restart == "systemctl restart ollama.service"
