"""Reading a YAML config file into plain data with the position of every key.

PyYAML's composed node tree gives every key and value a position; pydantic gives the key path
of every problem. Joining the two yields `file:12:5: Models[2].Run: ...`. vision.yml and the
schedule files are read the same way, within the bounds of limits.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from xmpvision.config import limits
from xmpvision.errors import ConfigError

Position = tuple[int, int]  # 1-based line and column
KeyPath = tuple[str | int, ...]

TOO_LARGE = f"larger than {limits.MAX_CONFIG_BYTES} bytes (a config file is a few KB)"


def read_text(path: Path, what: str) -> tuple[str, bytes]:
    """A config file's text (and bytes), never reading more than the cap; ConfigError naming
    the file otherwise."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.MAX_CONFIG_BYTES + 1)  # never more than the cap
        if len(data) > limits.MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}:1:1: {what} {TOO_LARGE}"])
        return data.decode("utf-8"), data
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read {what}: {exc}"]) from exc


def compose(text: str, filename: str, what: str) -> tuple[yaml.Node | None, limits.BoundedLoader]:
    """The text's node tree (None: an empty document) within the bounds of limits.py;
    ConfigError at the position of a syntax error or a bound passed."""
    too_large = len(text) > limits.MAX_CONFIG_BYTES  # cheap first: a 50 MB text stops here
    if too_large or len(text.encode("utf-8", "surrogatepass")) > limits.MAX_CONFIG_BYTES:
        raise ConfigError([f"{filename}:1:1: {what} {TOO_LARGE}"])
    try:
        return limits.compose(text)
    except limits.LimitExceeded as exc:
        raise ConfigError([f"{where(filename, exc.problem_mark)}: {exc.problem}"]) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # Only PyYAML's description: its str() quotes the offending line, maybe a secret.
        problem = exc.problem or "syntax error"
        raise ConfigError([f"{where(filename, mark)}: invalid YAML: {problem}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}: invalid YAML: {exc}"]) from exc


def where(filename: str, mark: yaml.Mark | None) -> str:
    return f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename


def at(filename: str, positions: Mapping[KeyPath, Position], path: KeyPath) -> str:
    probe = path
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = positions.get(probe, (1, 1))
    return f"{filename}:{line}:{col}: {dotted(path)}"


def dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def unknown_key(key: object, allowed: Sequence[str] | None) -> str:
    """The message for a key a section does not have, with the closest allowed one."""
    if allowed is None:
        return "unknown key"
    close = closest(key, allowed)
    hint = f" did you mean {close}?" if close else ""
    return f"unknown key;{hint} allowed: {', '.join(allowed)}"


def closest(value: object, choices: Sequence[str]) -> str | None:
    """The choice a mistyped value most likely meant, case ignored, as the choice is spelt."""
    folded = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(str(value).lower(), list(folded), n=1)
    return folded[close[0]] if close else None


class TreeReader:
    """Turns the composed node tree into plain data, recording each key's position and the
    problems of values that cannot be read (a number too large, an impossible date, a tag
    that is not plain data)."""

    def __init__(self, loader: limits.BoundedLoader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.positions: dict[KeyPath, Position] = {}
        self.problems: list[str] = []
        self._unreadable: set[KeyPath] = set()

    def unreadable(self, loc: tuple[str | int, ...]) -> bool:
        """True for a validation error about a value that already has its own problem."""
        return any(loc[: len(path)] == path for path in self._unreadable)

    def read(self, node: yaml.Node, path: KeyPath) -> Any:
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
            # A tag such as !!python/object/apply: vision.yml holds plain data only.
            self._unreadable.add(path)
            self._problem(path, self.positions[path], f"unsupported tag {node.tag}")
            return None
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                key = self._value(key_node, path, (line, col))
                if key is _UNREADABLE:
                    continue
                child = (*path, key if isinstance(key, str) else str(key))
                if child[-1] in result:
                    # Keep validating the first occurrence so its own problems are reported too.
                    self._problem(child, (line, col), "duplicate key")
                    continue
                self.positions[child] = (line, col)
                result[child[-1]] = self.read(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*path, index)) for index, item in enumerate(node.value)]
        value = self._value(node, path, self.positions[path])
        if value is _UNREADABLE:
            self._unreadable.add(path)
            return None
        return value

    def _value(self, node: yaml.Node, path: KeyPath, where: Position) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            problem = exc.problem or "cannot read this value"
        except ValueError as exc:
            # Python refuses to convert integers of more than a few thousand digits.
            too_long = node.tag == "tag:yaml.org,2002:int"
            problem = "number too large" if too_long else f"invalid value: {exc}"
        self._problem(path, where, problem)
        return _UNREADABLE

    def _problem(self, path: KeyPath, where: Position, problem: str) -> None:
        self.problems.append(f"{self.filename}:{where[0]}:{where[1]}: {dotted(path)}: {problem}")


_UNREADABLE = object()  # a value the tree reader reported and left out
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
