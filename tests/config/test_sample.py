"""The generated vision.yml (config/sample.py) follows the schema: it loads, names every key
xmpvision uses, and changes when the schema does."""

from __future__ import annotations

import re

from pydantic import Field

from xmpvision.config import parse_config
from xmpvision.config.builtin import apply_defaults
from xmpvision.config.daemon import HealthConfig, ShellCommand
from xmpvision.config.models import VisionConfig
from xmpvision.config.sample import iter_keys, sample_config

# A commented-out key: `#` then the key's indentation (pairs of spaces), as the sample writes it.
_COMMENTED_KEY = re.compile(r"^#(?=(?:  )*[A-Za-z-])")


def uncomment(text: str) -> str:
    return "\n".join(_COMMENTED_KEY.sub("", line) for line in text.splitlines())


def test_the_sample_loads_and_uses_the_models_of_a_run_without_a_file() -> None:
    config = parse_config(sample_config())
    without_file = apply_defaults(VisionConfig(), has_file=False)
    # The same models and settings; only a run without a file marks its models implicit (a
    # file's own entries are the user's).
    assert config.model_dump() == without_file.model_dump()


def test_every_commented_default_loads_and_equals_the_schema_default() -> None:
    text = uncomment(sample_config())
    assert "#Health" not in text and "\nHealth:" in text
    config = parse_config(text)
    # The example entry added one model with every key at its default (and the built-in
    # title model follows, as without a file).
    assert len(config.models) == len(apply_defaults(VisionConfig(), has_file=False).models) + 1
    assert config.health == HealthConfig()
    assert config.thresholds == VisionConfig().thresholds
    assert config.fallback == VisionConfig().fallback
    assert config.daemon == VisionConfig().daemon
    assert config.sidecar == VisionConfig().sidecar


def test_every_used_key_is_in_the_sample_and_no_unused_one() -> None:
    text = sample_config()
    written = set(re.findall(r"\b([A-Z][A-Za-z0-9]*):", text))
    used = set(iter_keys())
    assert used - written == set()
    # PhotoPrism's keys that xmpvision ignores are not offered.
    for unused in ("Method", "FileScheme", "NSFWUpload", "CanonicalOrder"):
        assert f"{unused}:" not in text


def test_the_sample_changes_when_the_schema_does() -> None:
    class Health(HealthConfig):
        """How Ollama is watched."""

        grace: int = Field(default=7, ge=1)

    class Vision(VisionConfig):
        health: Health = Field(default_factory=Health)

    text = sample_config(Vision)
    assert "#  Grace: 7  # >= 1" in text
    assert "Grace" not in sample_config()


def test_durations_are_written_as_durations_and_the_shell_form_is_shown() -> None:
    text = sample_config()
    assert "#  Cooldown: 15m" in text and "#    Debounce: 30s" in text
    assert "Restart: {Shell: ...}" in text
    assert isinstance(parse_config("Health: {Restart: {Shell: 'a && b'}}").health.restart,
                      ShellCommand)


def test_explanations_never_look_like_commented_keys() -> None:
    # Explanations start `# `: only a commented-out key has `#` then its indentation and key.
    odd = [line for line in sample_config().splitlines()
           if line.startswith("#") and not _COMMENTED_KEY.match(line)
           and not line.startswith("# ")]
    assert odd == []
