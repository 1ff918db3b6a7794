"""Ollama's own rules applied at load: KeepAlive as Ollama parses it, Think levels as Ollama
takes them, and options current Ollama no longer has warned about instead of sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmpvision.config import parse_config, parse_config_with_warnings
from xmpvision.config.loader import load_config
from xmpvision.engines.ollama import effective_options
from xmpvision.errors import ConfigError


def caption(service: str = "", options: str = "") -> str:
    return ("Models:\n  - Type: caption\n    Engine: ollama\n    Model: gemma4\n"
            f"    Service: {{{service}}}\n    Options: {{{options}}}\n")


@pytest.mark.parametrize("value", ["300", '"300"', '"1.5"'])
def test_keep_alive_as_ollama_refuses_it_is_an_error_at_load(tmp_path: Path,
                                                             value: str) -> None:
    path = tmp_path / "vision.yml"
    path.write_text(caption(f"KeepAlive: '{value.strip(chr(34))}'"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:5:" in message and "Models[0].Service.KeepAlive" in message
    assert "has no unit" in message


@pytest.mark.parametrize(("written", "sent"), [
    ("300", 300), ('"5m"', "5m"), ('"300s"', "300s"), ('"0"', "0"), ('"-1m"', "-1m"),
    ("-1", -1), ('"1h30m"', "1h30m"), ("2.5", 2.5),
])
def test_keep_alive_as_ollama_takes_it(written: str, sent: object) -> None:
    assert parse_config(caption(f"KeepAlive: {written}")).models[0].service.keep_alive == sent


def test_think_max_is_a_level() -> None:
    assert parse_config(caption("Think: max")).models[0].service.think == "max"
    with pytest.raises(ConfigError, match="allowed: true, false, low, medium, high, max"):
        parse_config(caption("Think: extreme"))


def test_options_ollama_no_longer_has_are_warned_about_and_not_sent() -> None:
    gone = ("TfsZ: 0.9, Mirostat: 2, MirostatTau: 5.0, MirostatEta: 0.1, PenalizeNewline: true,"
            " Numa: true, UseMlock: true, LowVram: true, VocabOnly: true")
    config, warnings = parse_config_with_warnings(caption(options=gone + ", TopK: 20"), "f.yml")
    for key in ("TfsZ", "Mirostat", "MirostatTau", "MirostatEta", "PenalizeNewline", "Numa",
                "UseMlock", "LowVram", "VocabOnly"):
        assert any(f"Models[0].Options.{key}:" in w for w in warnings), key
    sent = effective_options(config.models[0])
    assert sent == {"temperature": 0.1, "top_k": 20}
