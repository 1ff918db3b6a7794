"""Hostile vision.yml files: each is a positioned config error (exit 2), found quickly, never
a hang, a huge allocation or a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xmpvision.cli import app
from xmpvision.config import load_config, parse_config
from xmpvision.config.limits import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_NODES, MAX_SCALAR_CHARS
from xmpvision.errors import ConfigError


def _billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\nModels: []\n"


# Each hostile config: its text, then fragments its one error must hold.
HOSTILE: dict[str, tuple[str, list[str]]] = {
    "billion laughs": (_billion_laughs(), [f"more than {MAX_NODES} values", "alias"]),
    "recursive alias": ("Models: &m [*m]\n", [":1:", "refers to itself"]),
    "flow nesting 20,000 deep": ("Models: " + "[" * 20_000 + "]" * 20_000 + "\n",
                                 [":1:", f"nested deeper than {MAX_DEPTH} levels"]),
    "block nesting 20,000 deep": ("Models:\n" + "- " * 20_000 + "x\n",
                                  [":2:", f"nested deeper than {MAX_DEPTH} levels"]),
    "mapping nesting 20,000 deep": ("Models: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",
                                    [":1:", f"nested deeper than {MAX_DEPTH} levels"]),
    "nesting through aliases": (
        "".join(f"a{i}: &a{i} [[[[[[[[[[[[[[[[[[[[*a{i - 1}]]]]]]]]]]]]]]]]]]]]\n"
                for i in range(1, 40)).replace("*a0", "1") + "Models: []\n",
        [f"nested deeper than {MAX_DEPTH} levels"],
    ),
    "5,000-digit integer": ("Models:\n  - Type: caption\n    Resolution: " + "7" * 5000 + "\n",
                            [":3:5:", "Models[0].Resolution", "number too large"]),
    "5,000-digit Seed": ("Models:\n  - Type: caption\n    Options: {Seed: " + "9" * 5000 + "}\n",
                         [":3:15:", "Models[0].Options.Seed", "number too large"]),
    "long Prompt": ("Models:\n  - Type: caption\n    Prompt: " + "x" * (MAX_SCALAR_CHARS + 1),
                    [":3:13:", f"longer than {MAX_SCALAR_CHARS} characters"]),
    "long key": ("Models:\n  - " + "K" * (MAX_SCALAR_CHARS + 1) + ": 1\n",
                 [":2:5:", f"longer than {MAX_SCALAR_CHARS} characters"]),
    "impossible date": ("Models:\n  - Type: caption\n    Version: 2024-02-30\n",
                        [":3:5:", "Models[0].Version", "day is out of range"]),
    "python tag": ("Models:\n  - Type: caption\n    Model: !!python/object/apply:os.system [id]\n",
                   [":3:5:", "Models[0].Model", "python/object"]),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_config_is_a_positioned_error(name: str, tmp_path: Path) -> None:
    text, fragments = HOSTILE[name]
    path = tmp_path / "vision.yml"
    path.write_text(text)
    started = time.monotonic()
    result = CliRunner().invoke(app, ["vision", "ls", "--config", str(path)])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    [message] = result.stderr.splitlines()
    assert message.startswith(f"{path}:"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert elapsed < 5, elapsed


def test_alias_bomb_is_refused_fast() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError):
        parse_config(_billion_laughs(levels=30))  # 9**30 values if it were expanded
    assert time.monotonic() - started < 1


def test_a_few_aliases_are_fine() -> None:
    text = (
        "Shared: &svc {Uri: 'http://gpu:11434', Timeout: 120s}\n"
        "Models:\n  - Type: caption\n    Model: llava\n    Service: *svc\n"
        "  - Type: labels\n    Model: llava\n    Service: *svc\n"
    )
    with pytest.raises(ConfigError, match="Shared: unknown key"):
        parse_config(text)  # the aliases are not the problem; the made-up top-level key is
    text = text.replace("Shared: &svc {", "Models:\n  - Type: caption\n    Service: &svc {", 1)
    text = text.replace("\nModels:\n", "\n", 1)
    config = parse_config(text)
    assert {m.service.timeout for m in config.models if m.type != "title"} == {120.0}


def test_huge_text_is_refused_before_parsing() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"larger than {MAX_CONFIG_BYTES} bytes"):
        parse_config("Models:\n  - Type: caption\n    Prompt: " + "x" * 50_000_000 + "\n", "v.yml")
    assert time.monotonic() - started < 1


def test_huge_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "vision.yml"
    with path.open("wb") as handle:
        handle.truncate(50_000_000)  # sparse: a real read of it all would take a while
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert time.monotonic() - started < 1
    assert caught.value.problems == [
        f"{path}:1:1: config file larger than {MAX_CONFIG_BYTES} bytes (a config file is a few KB)"
    ]


def test_limits_leave_room_for_real_configs() -> None:
    models = "".join(
        f"  - Type: labels\n    Model: m{i}\n    Prompt: {'y' * 10_000}\n"
        f"    Options: {{Temperature: 0.1, Stop: [a, b, c]}}\n"
        for i in range(20)
    )
    config = parse_config("Models:\n" + models)
    assert len(config.models) == 22  # and the built-in caption and title models


def test_schema_file_is_bounded_too(tmp_path: Path) -> None:
    # The schema goes into every request: expanded, this one would be 9**9 strings.
    (tmp_path / "schema.yml").write_text(_billion_laughs().replace("Models: []", "type: object"))
    (tmp_path / "vision.yml").write_text(
        "Models:\n  - Type: labels\n    Model: llava\n    SchemaFile: schema.yml\n"
    )
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "vision.yml")
    assert time.monotonic() - started < 1
    [problem] = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'vision.yml'}:4:5: Models[0].SchemaFile: ")
    assert f"more than {MAX_NODES} values" in problem
