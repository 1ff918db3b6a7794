"""Config errors never echo the value of a secret key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from xmpvision.cli import app
from xmpvision.config import parse_config
from xmpvision.errors import ConfigError

HIDDEN = "got a value of the wrong type (hidden: secret)"


@pytest.mark.parametrize(
    ("service", "secret", "key"),
    [
        ("{Key: 73914682051739}", "73914682051739", "Key"),
        ("{Password: 86421357}", "86421357", "Password"),
        ('{Key: ["sk-abc"]}', "sk-abc", "Key"),
        ("{Password: {nested: hunter2}}", "hunter2", "Password"),
        ("{Key: [[sk-deep]]}", "sk-deep", "Key"),
    ],
)
def test_secret_values_are_hidden(service: str, secret: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"Models:\n  - Type: caption\n    Service: {service}\n", "v.yml")
    [problem] = caught.value.problems
    assert problem.startswith(f"v.yml:3:15: Models[0].Service.{key}: {HIDDEN}"), problem
    assert secret not in problem


@pytest.mark.parametrize(
    "key", ["ApiKey", "AccessToken", "ClientSecret", "AdminPassword", "api_key"]
)
def test_unknown_secret_looking_keys_hide_their_value(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"Models:\n  - Type: caption\n    Service: {{{key}: sk-live-123}}\n")
    [problem] = caught.value.problems
    assert "unknown key" in problem and "sk-live-123" not in problem


def test_secret_values_hidden_by_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "vision.yml"
    path.write_text("Models:\n  - Type: caption\n    Service:\n      Key: 73914682051739\n"
                    "      Password: [86421357]\n")
    result = CliRunner().invoke(app, ["vision", "ls", "--config", str(path)])
    assert result.exit_code == 2
    assert "73914682051739" not in result.output and "86421357" not in result.output
    assert result.stderr.count(HIDDEN) == 2


def test_other_values_are_still_shown() -> None:
    with pytest.raises(ConfigError, match="got 'big'"):
        parse_config("Models:\n  - Type: caption\n    Resolution: big\n")
