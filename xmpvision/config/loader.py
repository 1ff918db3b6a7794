"""Finding, parsing and validating vision.yml, with errors that point at file:line:col.

PyYAML's composed node tree gives every key and value a position; pydantic gives the key path
of every problem. Joining the two yields `vision.yml:12:5: Models[2].Run: ...; allowed: ...`.
Keys that are accepted but have no effect give warnings of the same shape. The YAML is read
within bounds (limits.py), and a secret's value never appears in a message.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from xmpvision.config import yamltree
from xmpvision.config.builtin import apply_defaults, uri_problem
from xmpvision.config.models import (
    ENGINES,
    MODEL_TYPES,
    NORMALIZE_VALUES,
    VisionConfig,
    allowed_keys,
    nested_section,
)
from xmpvision.config.schema import read_schema
from xmpvision.config.unused import unused_keys
from xmpvision.config.yamltree import KeyPath, Position, at
from xmpvision.errors import ConfigError

CONFIG_ENV = "XMPVISION_CONFIG"
CONFIG_NAME = "vision.yml"
# The machine-wide file, read last; the systemd units use it.
SYSTEM_CONFIG = Path("/etc/xmpvision") / CONFIG_NAME



@dataclass(frozen=True)
class LoadedConfig:
    """The effective configuration, where it came from (None: built-in defaults) and the
    warnings about it, each `file:line:col: Key.Path: ...` like an error."""

    config: VisionConfig
    path: Path | None
    warnings: list[str] = field(default_factory=list)
    digest: str | None = None  # SHA-256 of the file's content: what its warnings were about


def search_paths() -> list[Path]:
    """Where vision.yml is looked for when neither --config nor $XMPVISION_CONFIG is given."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [
        Path.cwd() / CONFIG_NAME,
        config_home / "xmpvision" / CONFIG_NAME,
        SYSTEM_CONFIG,
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
    text, data = yamltree.read_text(path, "config file")
    config, warnings = parse_config_with_warnings(text, str(path), base=path.parent)
    return LoadedConfig(config, path, warnings, hashlib.sha256(data).hexdigest())


def parse_config(
    text: str, filename: str = CONFIG_NAME, *, base: Path | None = None
) -> VisionConfig:
    """Validate vision.yml text; every problem is reported at once with its position.

    `base` is the folder relative file names in it (SchemaFile) are read from."""
    return parse_config_with_warnings(text, filename, base=base)[0]


def parse_config_with_warnings(
    text: str, filename: str = CONFIG_NAME, *, base: Path | None = None
) -> tuple[VisionConfig, list[str]]:
    """parse_config, plus one warning per key written that xmpvision accepts but does not
    use, in file order."""
    node, loader = yamltree.compose(text, filename, "config file")
    if node is None:
        return apply_defaults(VisionConfig(), has_file=True), []
    reader = yamltree.TreeReader(loader, filename)
    data = reader.read(node, ())
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1:1: the top level must be a mapping with the key Models"])
    data = _expand_env(data)
    problems = reader.problems
    positions = reader.positions
    try:
        config = VisionConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(
            _describe(err, positions, filename)
            for err in exc.errors()
            if not reader.unreadable(err["loc"])
        )
    else:
        config = _with_schemas(config, base, positions, problems, filename)
        config = _with_paths(config, base)
        problems.extend(_uri_problems(config, positions, filename))
    if problems:
        raise ConfigError(sorted(problems, key=_line_col))
    resolved = apply_defaults(config, has_file=True)
    engines = [m.engine for m in resolved.models[: len(config.models)]]
    warnings = [
        f"{at(filename, positions, path)}: PhotoPrism key {path[-1]} is not used by xmpvision"
        for path in unused_keys(config, engines)
    ]
    warnings += _context_warnings(config, positions, filename)
    return resolved, sorted(warnings, key=_line_col)


PLACES_MODULE = "reverse_geocode"  # the `places` extra's offline geocoder


def _context_warnings(config: VisionConfig, positions: Mapping[KeyPath, Position],
                      filename: str) -> list[str]:
    """A `Context` written with `place` on an install without the offline place names: the
    hint would be dropped without a word (the default Context asks for it quietly)."""
    asked = [index for index, model in enumerate(config.models)
             if "context" in model.model_fields_set and "place" in model.context]
    if not asked or _installed(PLACES_MODULE):
        return []
    return [f"{at(filename, positions, ('Models', index, 'Context'))}: place needs the offline "
            "place names: pip install 'xmpvision[places]'; until then photos get no place hint"
            for index in asked]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


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
            problems.append(f"{filename}:{line}:{col}: {yamltree.dotted(path)}: {exc}")
            continue
        if schema is not None:
            models[index] = model.model_copy(update={"schema_": schema})
    return config.model_copy(update={"models": models})


def _with_paths(config: VisionConfig, base: Path | None) -> VisionConfig:
    """A relative Path, and a LabelFile given with a folder (`./x.txt`, `../labels.txt`),
    taken from the config file's folder rather than wherever the command was started; a bare
    LabelFile name stays in the model's directory."""
    if base is None:
        return config
    models = list(config.models)
    for index, model in enumerate(models):
        update: dict[str, str] = {}
        if model.path and "${" not in model.path and not Path(model.path).is_absolute():
            update["path"] = str(base / model.path)
        label = model.label_file
        if label and not Path(label).is_absolute() and (
                len(Path(label).parts) > 1 or label.startswith("./")):
            update["label_file"] = str(base / label)
        if update:
            models[index] = model.model_copy(update=update)
    return config.model_copy(update={"models": models})


def _uri_problems(config: VisionConfig, positions: Mapping[KeyPath, Position],
                  filename: str) -> list[str]:
    """Every Service.Uri (and endpoint Uri) written that is not a URL a client can use."""
    found = []
    for index, model in enumerate(config.models):
        service = model.service
        written: list[tuple[KeyPath, str | None]] = [(("Models", index, "Service", "Uri"),
                                                      service.uri)]
        written += [(("Models", index, "Service", "Endpoints", n, "Uri"), endpoint.uri)
                    for n, endpoint in enumerate(service.endpoints or ())]
        for path, uri in written:
            if not uri or not uri.strip() or "${" in uri:
                continue  # unset: the engine's default applies
            problem = uri_problem(uri.strip())
            if problem is not None:
                found.append(f"{at(filename, positions, path)}: {problem}")
    return found


def _line_col(problem: str) -> tuple[int, int]:
    match = re.search(r":(\d+):(\d+): ", problem)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


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


_ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "Type": MODEL_TYPES,
    "Engine": ENGINES,
    "Naming": ("full", "base"),
    "Normalize": NORMALIZE_VALUES,
}
_SECRET_SUFFIXES = ("key", "password", "token", "secret")
_HIDDEN = "got a value of the wrong type (hidden: secret)"
_SHOWN_CHARS = 80  # of a wrong value quoted in a message


def _is_secret(loc: tuple[str | int, ...]) -> bool:
    """A value at or below a key named like a credential (Key, Password, ApiToken, ...)."""
    return any(isinstance(p, str) and p.lower().endswith(_SECRET_SUFFIXES) for p in loc)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _field(section: type[BaseModel] | None, key: str) -> FieldInfo | None:
    if section is None:
        return None
    return next((f for n, f in section.model_fields.items() if (f.alias or n) == key), None)


def _section_of(path: KeyPath) -> type[BaseModel] | None:
    """The section class whose keys live at `path` (the parent of an offending key)."""
    section: type[BaseModel] | None = VisionConfig
    for part in path:
        if isinstance(part, int):
            continue  # an entry of a list: the same section as the list's items
        info = _field(section, part)
        section = nested_section(info.annotation) if info else None
    return section


def _allowed(section: type[BaseModel] | None) -> list[str] | None:
    return None if section is None else allowed_keys(section)


def _describe(err: Mapping[str, Any], positions: dict[KeyPath, Position], filename: str) -> str:
    loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    where = at(filename, positions, loc)
    kind = err["type"]
    keyed = loc  # the path to the key the problem is about: a list item's is the list's
    while keyed and isinstance(keyed[-1], int):
        keyed = keyed[:-1]
    field = str(keyed[-1]) if keyed else ""
    if kind == "extra_forbidden":
        return f"{where}: {yamltree.unknown_key(loc[-1], _allowed(_section_of(loc[:-1])))}"
    if kind == "missing":
        values = _ALLOWED_VALUES.get(field)
        return f"{where}: required key is missing" + (
            f"; allowed: {', '.join(values)}" if values else ""
        )
    secret = _is_secret(loc)
    got = _HIDDEN if secret else f"got {_shown(err.get('input'))}"
    if field in _ALLOWED_VALUES and not secret:
        allowed = ", ".join(_ALLOWED_VALUES[field])
        return f"{where}: invalid value {_shown(err.get('input'))}; allowed: {allowed}"
    if kind in _EXPECTED:
        section = _section_of(keyed[:-1])
        return f"{where}: {got}; allowed: {_expected(kind, section, field)}"
    if secret:
        return f"{where}: {_HIDDEN}"  # a validator's own message may quote the value
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


def _expected(kind: str, section: type[BaseModel] | None, field: str) -> str:
    """What a key accepts: its kind plus its bounds, read from the schema."""
    text = _EXPECTED[kind]
    info = _field(section, field)
    bounds = []
    for item in info.metadata if info else ():
        for name, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(item, name, None) is not None:
                bounds.append(f"{symbol} {getattr(item, name)}")
    if not text:
        annotation = info.annotation if info else None
        text = "a whole number" if annotation in (int, int | None) else "a number"
    nested = nested_section(info.annotation) if info else None
    if kind in ("model_type", "dict_type", "model_attributes_type") and nested is not None:
        text += f" with the keys {', '.join(allowed_keys(nested))}"
    return text + (f" ({', '.join(bounds)})" if bounds else "")
