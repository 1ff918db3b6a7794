"""Running the restart command (Health.Restart) and waiting for Ollama to answer again.

The command runs without a shell (split like a shell would split it), or by `/bin/sh -c` when
vision.yml says so (`Restart: {Shell: ...}`), in its own process group
so that a hanging one is killed whole at the timeout; its output goes to a file, not a pipe, so
that a command leaving a server behind in the background cannot hang us on the pipe.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from xmpvision.config.daemon import ShellCommand
from xmpvision.errors import EngineError
from xmpvision.health.probe import Probe

# How often /api/version is asked while Ollama comes back.
POLL = 0.2
_SHOWN_OUTPUT = 300  # characters of the command's output kept for the log


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    detail: str  # exit status and the tail of the output, or why it could not run
    seconds: float


def run_command(command: str | ShellCommand, timeout: float) -> CommandResult:
    """Run `command`; never raises."""
    started = time.monotonic()
    try:
        argv = (["/bin/sh", "-c", command.shell] if isinstance(command, ShellCommand)
                else shlex.split(command))
    except ValueError as exc:
        return CommandResult(False, f"cannot parse the command: {exc}", 0.0)
    if not argv:
        return CommandResult(False, "empty command", 0.0)
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return CommandResult(False, f"cannot run {argv[0]}: {exc.strerror or exc}", 0.0)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return CommandResult(False, f"did not finish within {timeout:g}s (killed)",
                                 time.monotonic() - started)
        output.seek(0)
        tail = output.read()[-_SHOWN_OUTPUT:].decode("utf-8", "replace").strip()
    seconds = time.monotonic() - started
    detail = f"exit status {code}" + (f": {tail}" if tail else "")
    return CommandResult(code == 0, detail, seconds)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_until_up(version: Callable[[], str], timeout: float,
                  sleep: Callable[[float], None] = time.sleep) -> str | None:
    """The version once the service answers within `timeout` seconds; None if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return version()
        except EngineError:
            if time.monotonic() >= deadline:
                return None
            sleep(POLL)


@dataclass(frozen=True)
class RestartOutcome:
    command: CommandResult
    version: str | None  # None: Ollama did not answer again within the timeout
    warmed: list[str]  # the models loaded again
    problems: list[str]  # warming failures, for the log

    @property
    def back(self) -> bool:
        return self.version is not None


def restart_service(probe: Probe, command: str | ShellCommand, timeout: float, models: list[str],
                    ) -> RestartOutcome:
    """Run the restart command, wait for /api/version, load `models` again. Never raises."""
    result = run_command(command, timeout)
    version = wait_until_up(probe.version, timeout)
    warmed: list[str] = []
    problems: list[str] = []
    if version is not None:
        for model in models:
            try:
                probe.generate(model)
            except EngineError as exc:
                problems.append(f"{model}: {exc}")
            else:
                warmed.append(model)
    return RestartOutcome(result, version, warmed, problems)
