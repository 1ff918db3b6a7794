"""The exception hierarchy of xmpvision. Library code raises these; the CLI renders them.

Messages follow one shape, "<what> PATH: REASON", so that logs are greppable. Every error that
ends a command carries the exit code the CLI leaves with (`exit_code`), so one error net maps
them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Self

from xmpvision.results import Usage

# Exit codes of every command.
EXIT_OK = 0
EXIT_FAILED = 1  # some photos failed, each reported
EXIT_USAGE = 2  # usage or config error
EXIT_INTERRUPTED = 130


# Secrets never reach output. Every error's message is redacted when the error is made, and
# the CLI redacts every log record with the same function.
# Greedy up to the last "@" before the path, so a password holding "@" is taken out whole.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://)[^/\s?#]{1,512}@")


def redact(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by "***"."""
    return _USERINFO.sub(r"\g<scheme>***@", text) if "@" in text else text


class XmpvisionError(Exception):
    """Base of every error xmpvision raises on purpose; its message never holds a password."""

    exit_code: ClassVar[int] = EXIT_USAGE

    def __init__(self, message: str = "") -> None:
        super().__init__(redact(message))


class UsageError(XmpvisionError):
    """The command line asks for something that cannot be done (a missing folder, ...)."""


class ConfigError(XmpvisionError):
    """vision.yml (or another config file) is missing or invalid; the CLI exits 2.

    `problems` holds one line per problem, each already formatted as
    `file:line:col: Key.Path: what is wrong; allowed: ...`.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = [redact(problem) for problem in problems]
        super().__init__("\n".join(self.problems))


class UnknownSourceError(XmpvisionError, ValueError):
    """A source name that is not one of PhotoPrism's (see sources.py)."""

    def __init__(self, name: str, allowed: list[str]) -> None:
        super().__init__(f"unknown source {name!r}; allowed: {', '.join(allowed)}")
        self.name = name


class StateError(XmpvisionError):
    """The state database cannot be opened or used (corrupt, newer schema, unwritable, full)."""

    def __init__(self, path: Path | str, reason: str, *, action: str = "opening") -> None:
        super().__init__(f"error {action} state database {path}: {reason}")
        self.path = path
        self.reason = reason


class RunLocked(XmpvisionError):
    """Another run holds the state database."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"another xmpvision run is using {path} (lock {path}.lock held); "
                         "wait for it to finish or pass --state for a separate database")
        self.path = path


class NoRunnableModel(XmpvisionError):
    """No model of the requested types runs in this context (see `vision ls`)."""


class EngineError(XmpvisionError):
    """A model could not produce a result at run time; the chain falls back to the next model.

    `hint` says what the user can do about it; it is printed once where the error is first
    reported, not with every photo it affects.
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def again(self) -> Self:
        """A fresh copy to raise once more: one instance raised from several threads would
        share (and grow) one traceback."""
        copy = type(self).__new__(type(self))
        EngineError.__init__(copy, str(self), hint=self.hint)
        copy.__cause__ = self.__cause__
        return copy

    def with_hint(self) -> str:
        return f"{self}; {self.hint}" if self.hint else str(self)


class EngineUnavailable(EngineError):
    """The service did not answer (connection refused, timeout, 5xx) after the retries, or the
    engine cannot run here (not installed)."""


class ServiceDown(EngineUnavailable):
    """The service itself failed: it could not be reached, went silent past the read timeout,
    dropped the connection or answered 5xx. Consecutive ones open the endpoint's circuit
    breaker; a refused key, a missing model or a rate limit do not (the server is alive)."""


class CircuitOpen(EngineUnavailable):
    """The endpoint's circuit breaker is open: it was not asked (no time spent waiting)."""


def is_down(error: EngineError) -> bool:
    """A failure of the server, not of the model or the photo: worth asking again later.

    The other two kinds: the model cannot run on that server (ModelNotFound and its
    ModelCannotRun: remembered for the run, the server's other models unaffected), and the
    answer was bad (InvalidPayload: this photo falls back, nothing is held against anyone)."""
    return isinstance(error, ServiceDown | CircuitOpen)


class ModelNotFound(EngineError):
    """The service answers but does not have the model (e.g. not pulled)."""


class ModelCannotRun(ModelNotFound):
    """The service is up but this model cannot run there now: it cannot be loaded (out of
    memory), or it refuses a setting of the entry (thinking on a model that cannot think).
    Remembered for the run like a missing model; other models on the same server are not
    affected, and the server is not down."""


class ParameterRefused(EngineError):
    """The server refuses one parameter of the request for this model (GPT-5's
    `temperature`, `max_tokens`, a `response_format` type). The engine drops or renames it and
    asks once more; one it cannot do without makes the model one that cannot run there."""

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class InvalidPayload(EngineError):
    """The model answered with something that is not a usable result (unparsable, cut off at
    its token budget, reasoning only, stopped while repeating itself): this photo falls back;
    the server is up and the model is asked again for the next photo."""

    # What the request cost (the tokens the server counted): spent on the GPU all the same.
    spent: Usage | None = None


class FileError(XmpvisionError):
    """One file cannot be used: "error <doing> PATH: REASON"; the run goes on without it."""

    exit_code = EXIT_FAILED
    doing: ClassVar[str] = "using"

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"error {self.doing} {path}: {reason}")
        self.path = path
        self.reason = reason


class ImageError(FileError):
    """A photo cannot be read or decoded; the file is skipped and reported."""

    doing = "reading"


class SidecarError(FileError):
    """A sidecar cannot be read or written; it is left untouched and the photo is skipped."""

    doing = "writing"
