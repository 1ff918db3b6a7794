"""The exception hierarchy of xmpvision. Library code raises these; the CLI renders them.

Messages follow one shape, "<what> PATH: REASON", so that logs are greppable.
"""

from __future__ import annotations

from pathlib import Path


class XmpvisionError(Exception):
    """Base of every error xmpvision raises on purpose."""


class ConfigError(XmpvisionError):
    """vision.yml (or another config file) is missing or invalid; the CLI exits 2.

    `problems` holds one line per problem, each already formatted as
    `file:line:col: Key.Path: what is wrong; allowed: ...`.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class EngineError(XmpvisionError):
    """A model could not produce a result at run time; the chain falls back to the next model."""


class EngineUnavailable(EngineError):
    """The service did not answer (connection refused, timeout, 5xx) after the retries."""


class ModelNotFound(EngineError):
    """The service answers but does not have the model (e.g. not pulled)."""


class InvalidPayload(EngineError):
    """The model answered with something that is not a usable result."""


class ImageError(XmpvisionError):
    """A photo cannot be read or decoded; the file is skipped and reported."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"error reading {path}: {reason}")
        self.path = path
        self.reason = reason


class SidecarError(XmpvisionError):
    """A sidecar cannot be read or written; it is left untouched and the photo is skipped."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"error writing {path}: {reason}")
        self.path = path
        self.reason = reason
