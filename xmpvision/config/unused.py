"""Which keys of a validated vision.yml xmpvision accepts but does not use.

PhotoPrism's files carry keys for engines and features xmpvision lacks (ONNX, NSFW detection,
OpenAI). They load, and each one written is reported once, so a user learns that a setting has
no effect instead of wondering why it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from xmpvision.config.models import SUPPORTED_TYPES, ModelOptions, VisionConfig, key_use

KeyPath = tuple[str | int, ...]


def unused_keys(config: VisionConfig, engines: Sequence[str | None]) -> list[KeyPath]:
    """The key path of every key written in `config` that has no effect. `config` is the
    config as validated (before defaults replace entries); `engines` holds the resolved
    engine of each of its Models entries."""
    found: list[KeyPath] = []
    _walk(config.thresholds, ("Thresholds",), None, found)
    _walk(config.sidecar, ("Sidecar",), None, found)
    for index, model in enumerate(config.models):
        engine = engines[index] if index < len(engines) else None
        # A built-in entry is replaced by xmpvision's own model: what PhotoPrism wrote to
        # describe its classifier is one unused block, not a key each.
        whole = _BUILTIN_BLOCKS if model.default and model.type in SUPPORTED_TYPES else ()
        _walk(model, ("Models", index), engine, found, whole)
    return found


_BUILTIN_BLOCKS = ("tensorflow", "onnx")


def _walk(section: BaseModel, path: KeyPath, engine: str | None, found: list[KeyPath],
          whole: tuple[str, ...] = ()) -> None:
    fields = type(section).model_fields
    for name, field in fields.items():
        if name not in section.model_fields_set:
            continue
        here = (*path, field.alias or name)
        if name in whole or _unused(section, name, key_use(field), engine):
            found.append(here)  # once for the key: what lies below it is unused as well
            continue
        value = getattr(section, name)
        if isinstance(value, BaseModel):
            _walk(value, here, engine, found)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _walk(item, (*here, index), engine, found)


def _unused(section: BaseModel, name: str, use: str | None, engine: str | None) -> bool:
    if use == "unused":
        return True
    if use != "openai" or engine != "ollama":
        # Kept for an OpenAI engine. Only Ollama entries are told: the classifier reads no
        # Options or Service at all, and an entry of an unsupported type never runs.
        return False
    return not (isinstance(section, ModelOptions) and section.maps_to_ollama(name))
