"""The README's "### Keys" section and the schema describe the same keys."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from xmpvision.config import limits
from xmpvision.config.defaults import (
    AUTO_PARALLEL_MAX,
    DEFAULT_CONFIDENCE,
    DEFAULT_DEADLINE_FACTOR,
    DEFAULT_NORMALIZE,
    DEFAULT_PARALLEL,
)
from xmpvision.config.models import VisionConfig, key_use, nested_section

README = Path(__file__).resolve().parents[2] / "README.md"
# A key as the README writes it: `Temperature`, `NSFWUpload` (values are lower case).
_KEY = re.compile(r"`([A-Z][A-Za-z0-9]*)`")
_NOT_USED = "not used"


def _keys_section() -> list[str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("### Keys")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("#"))
    return lines[start + 1 : end]


def _schema_keys() -> tuple[set[str], set[str]]:
    """(keys xmpvision uses, keys it accepts but does not use), over every section."""
    used: set[str] = set()
    unused: set[str] = set()

    def walk(section: type[BaseModel], ignored: bool) -> None:
        for name, field in section.model_fields.items():
            alias = field.alias or name
            marked = ignored or key_use(field) is not None
            (unused if marked else used).add(alias)
            nested = nested_section(field.annotation)
            if nested is not None:
                walk(nested, marked)

    walk(VisionConfig, ignored=False)
    return used, unused


def test_every_accepted_key_is_documented_and_no_other() -> None:
    used, unused = _schema_keys()
    mentioned = {key for line in _keys_section() for key in _KEY.findall(line)}
    assert (used | unused) - mentioned == set(), "keys missing from the README"
    assert mentioned - (used | unused) == set(), "README keys the schema does not accept"


def test_unused_keys_are_documented_as_not_used() -> None:
    # On each line, the keys written after "not used" are the ones without effect.
    _, unused = _schema_keys()
    after = {
        key
        for line in _keys_section()
        if _NOT_USED in line
        for key in _KEY.findall(line.split(_NOT_USED, 1)[1])
    }
    assert after == unused


def test_readme_defaults_match() -> None:
    text = "\n".join(_keys_section())
    assert f"default {DEFAULT_CONFIDENCE:g}" in text
    assert f"`{DEFAULT_NORMALIZE}` (the default" in text
    assert f"default {DEFAULT_DEADLINE_FACTOR:g} times `Timeout`" in text
    assert (f"`{DEFAULT_PARALLEL}`, the default, finds how many the server serves at once, "
            f"at most {AUTO_PARALLEL_MAX}") in text


def test_readme_limits_match() -> None:
    text = " ".join(_keys_section())
    assert f"at most {limits.MAX_CONFIG_BYTES // 1024 // 1024} MiB" in text
    assert f"{limits.MAX_SCALAR_CHARS // 1024} KiB per value" in text
    assert f"{limits.MAX_DEPTH} levels of nesting" in text
    assert f"{limits.MAX_NODES:,} values" in text
