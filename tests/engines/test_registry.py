"""The engine registry, the config schema's engine list, each engine's defaults and the
provenance source priorities agree: an engine's row (config/defaults.py's ENGINE_DEFAULTS)
names its kind, and the kind says the same of itself."""

from __future__ import annotations

import pytest

from xmpvision.config import parse_config
from xmpvision.config.defaults import ENGINE_DEFAULTS
from xmpvision.config.models import ENGINES
from xmpvision.engines import describe, kind_of
from xmpvision.errors import ConfigError
from xmpvision.sources import SOURCE_PRIORITY


@pytest.mark.parametrize("name", list(ENGINE_DEFAULTS))
def test_each_row_names_a_kind_that_agrees_with_it(name: str) -> None:
    row = ENGINE_DEFAULTS[name]
    kind = kind_of(name)
    assert kind is not None, f"{name}: {row.kind} is not an engine kind"
    assert kind.name == name
    assert kind.source == row.source
    assert row.source in SOURCE_PRIORITY, f"{name}: source {row.source!r} has no priority"
    config = parse_config(f"Models:\n  - {{Type: labels, Engine: {name}}}\n")
    model = next(m for m in config.models if m.engine == name)
    info = describe(model)
    assert info.engine == name and info.source == row.source
    assert model.model_ref == row.model  # the row's default model name (tagged: name:latest)
    assert "labels" in info.abilities.answers


def test_the_config_accepts_exactly_the_registered_engines() -> None:
    assert set(ENGINES) == set(ENGINE_DEFAULTS)
    with pytest.raises(ConfigError, match="allowed: " + ", ".join(ENGINE_DEFAULTS)):
        parse_config("Models:\n  - {Type: labels, Engine: gemini}\n")
    assert kind_of("gemini") is None
