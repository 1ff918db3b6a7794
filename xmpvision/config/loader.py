"""Finding, parsing and validating vision.yml, with errors that point at file:line:col.

PyYAML's composed node tree gives every key and value a position; pydantic gives the key path
of every problem. Joining the two yields `vision.yml:12:5: Models[2].Run: ...; allowed: ...`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from xmpvision.config.builtin import apply_defaults
from xmpvision.config.models import (
    ENGINES,
    MODEL_TYPES,
    ModelConfig,
    ModelOptions,
    ServiceConfig,
    SidecarConfig,
    Thresholds,
    VisionConfig,
    allowed_keys,
)
from xmpvision.config.schema import read_schema
from xmpvision.errors import ConfigError

CONFIG_ENV = "XMPVISION_CONFIG"
CONFIG_NAME = "vision.yml"

Position = tuple[int, int]  # 1-based line and column
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedConfig:
    """The effective configuration and where it came from (None: built-in defaults)."""

    config: VisionConfig
    path: Path | None


def search_paths() -> list[Path]:
    """Where vision.yml is looked for when neither --config nor $XMPVISION_CONFIG is given."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [
        Path.cwd() / CONFIG_NAME,
        config_home / "xmpvision" / CONFIG_NAME,
        Path("/etc/xmpvision") / CONFIG_NAME,
    ]


def _other_extension(path: Path) -> Path | None:
    if path.suffix == ".yml":
        return path.with_suffix(".yaml")
    if path.suffix == ".yaml":
        return path.with_suffix(".yml")
    return None


def find_config(explicit: Path | None = None) -> Path | None:
    """The config file to read, or None to use the built-in defaults."""
    named = explicit or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if named is not None:
        if named.is_file():
            return named
        other = _other_extension(named)
        hint = f" (found {other}: did you mean that?)" if other and other.is_file() else ""
        raise ConfigError([f"{named}: config file not found{hint}"])
    for candidate in search_paths():
        if candidate.is_file():
            return candidate
        other = _other_extension(candidate)
        if other is not None and other.is_file():
            # A silently ignored vision.yaml would run the defaults instead of the user's models.
            raise ConfigError(
                [f"{other}: xmpvision reads {CONFIG_NAME}, not {other.name}; "
                 f"rename it to {candidate.name} or pass --config {other}"]
            )
    return None


def load_config(explicit: Path | None = None) -> LoadedConfig:
    """Find and load the effective configuration; raises ConfigError with every problem found."""
    path = find_config(explicit)
    if path is None:
        return LoadedConfig(apply_defaults(VisionConfig(), has_file=False), None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config: {exc}"]) from exc
    return LoadedConfig(parse_config(text, str(path), base=path.parent), path)


def parse_config(
    text: str, filename: str = CONFIG_NAME, *, base: Path | None = None
) -> VisionConfig:
    """Validate vision.yml text; every problem is reported at once with its position.

    `base` is the folder relative file names in it (SchemaFile) are read from."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ConfigError([f"{where}: invalid YAML: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}: invalid YAML: {exc}"]) from exc
    if node is None:
        return apply_defaults(VisionConfig(), has_file=True)
    positions: dict[KeyPath, Position] = {}
    problems: list[str] = []
    data = _to_python(node, (), positions, problems, filename)
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1:1: the top level must be a mapping with the key Models"])
    data = _expand_env(data)
    try:
        config = VisionConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe(err, positions, filename) for err in exc.errors())
    else:
        config = _with_schemas(config, base, positions, problems, filename)
    if problems:
        raise ConfigError(sorted(problems, key=_line_col))
    return apply_defaults(config, has_file=True)


def _with_schemas(config: VisionConfig, base: Path | None, positions: dict[KeyPath, Position],
                  problems: list[str], filename: str) -> VisionConfig:
    """Every model's Schema/SchemaFile read and checked now, not per photo."""
    models = list(config.models)
    for index, model in enumerate(models):
        try:
            schema = read_schema(model, base)
        except ValueError as exc:
            key = "Schema" if model.schema_ is not None else "SchemaFile"
            path: KeyPath = ("Models", index, key)
            line, col = positions.get(path, positions.get(("Models", index), (1, 1)))
            problems.append(f"{filename}:{line}:{col}: {_dotted(path)}: {exc}")
            continue
        if schema is not None:
            models[index] = model.model_copy(update={"schema_": schema})
    return config.model_copy(update={"models": models})


def _line_col(problem: str) -> tuple[int, int]:
    match = re.search(r":(\d+):(\d+): ", problem)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _to_python(
    node: yaml.Node,
    path: KeyPath,
    positions: dict[KeyPath, Position],
    problems: list[str],
    filename: str,
) -> Any:
    positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(yaml.serialize(key_node)).get_single_data()
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key in result:
                # Keep validating the first occurrence so its own problems are reported too.
                problems.append(f"{filename}:{line}:{col}: {_dotted(child)}: duplicate key")
                continue
            positions[child] = (line, col)
            result[key] = _to_python(value_node, child, positions, problems, filename)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, index), positions, problems, filename)
            for index, item in enumerate(node.value)
        ]
    return yaml.SafeLoader(yaml.serialize(node)).get_single_data()


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any) -> Any:
    """Expand ${VAR} in every string; an unset variable stays as written (see defaults.py)."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    return value


def _dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


_SECTIONS: dict[str, type[BaseModel]] = {
    "Models": ModelConfig,
    "Thresholds": Thresholds,
    "Sidecar": SidecarConfig,
    "Service": ServiceConfig,
    "Options": ModelOptions,
}

_ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "Type": MODEL_TYPES,
    "Engine": ENGINES,
    "Naming": ("full", "base"),
}


def _section_of(path: KeyPath) -> type[BaseModel]:
    """The model class whose keys live at `path` (the parent of an offending key)."""
    section: type[BaseModel] = VisionConfig
    for part in path:
        if isinstance(part, str) and part in _SECTIONS:
            section = _SECTIONS[part]
    return section


def _describe(err: Mapping[str, Any], positions: dict[KeyPath, Position], filename: str) -> str:
    loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    probe = loc
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = positions.get(probe, (1, 1))
    where = f"{filename}:{line}:{col}: {_dotted(loc)}"
    kind = err["type"]
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if kind == "extra_forbidden":
        allowed = allowed_keys(_section_of(loc[:-1]))
        return f"{where}: unknown key; allowed: {', '.join(allowed)}"
    if kind == "missing":
        values = _ALLOWED_VALUES.get(field)
        return f"{where}: required key is missing" + (
            f"; allowed: {', '.join(values)}" if values else ""
        )
    got = err.get("input")
    if field in _ALLOWED_VALUES:
        return f"{where}: invalid value {got!r}; allowed: {', '.join(_ALLOWED_VALUES[field])}"
    if kind in _EXPECTED:
        section = _section_of(loc[:-1])
        return f"{where}: got {got!r}; allowed: {_expected(kind, section, field, err)}"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


_EXPECTED: dict[str, str] = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a text value",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "greater_than_equal": "",
    "less_than_equal": "",
    "greater_than": "",
    "less_than": "",
}


def _expected(kind: str, section: type[BaseModel], field: str, err: Mapping[str, Any]) -> str:
    """What a key accepts: its kind plus its bounds, read from the schema."""
    text = _EXPECTED[kind]
    info = next((f for n, f in section.model_fields.items() if (f.alias or n) == field), None)
    bounds = []
    for item in info.metadata if info else ():
        for name, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(item, name, None) is not None:
                bounds.append(f"{symbol} {getattr(item, name)}")
    if not text:
        annotation = info.annotation if info else None
        text = "a whole number" if annotation in (int, int | None) else "a number"
    if kind in ("model_type", "dict_type", "model_attributes_type") and field in _SECTIONS:
        text += f" with the keys {', '.join(allowed_keys(_SECTIONS[field]))}"
    return text + (f" ({', '.join(bounds)})" if bounds else "")
