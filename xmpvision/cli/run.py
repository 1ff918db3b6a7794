"""Running a job from the CLI: the reporter for the output chosen, signals, the summary line and
the exit code. Shared by `scan`, `vision run` and `vision reset`."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, TypeAlias

import typer

from xmpvision.cli.output import JsonOutput, PlainOutput, Repeats, notice, progress_bar
from xmpvision.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from xmpvision.report import json_line
from xmpvision.text.untrusted import printable

if TYPE_CHECKING:
    from xmpvision.pipeline import Reporter, RunOptions, RunResult
    from xmpvision.report import Counted, ServiceReport, Summary

StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="State database (default under $XDG_STATE_HOME/xmpvision/).",
                 show_default=False),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="NDJSON: one object per photo, then a summary object.")
]
JobsOption = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, max=256,
                 help="Worker threads (default: the services' Parallel, plus as many (2 to 8) "
                      "decoding the next photos).",
                 show_default=False),
]
FollowOption = Annotated[
    bool, typer.Option("--follow-symlinks", help="Follow symlinked folders and files.")
]

Job: TypeAlias = "Callable[[Reporter, threading.Event], RunResult]"


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM ask for a clean stop (in-flight photos finish); a second one aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            # At once, whatever the workers are waiting for: a request can take minutes, and
            # the interpreter would wait for it at exit. The state and the sidecars are
            # written so that a kill at any moment loses nothing already recorded.
            notice("aborted")
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)
        stop.set()
        notice("stopping after the photos in flight (again to abort)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def execute(job: Job, roots: Sequence[Path], options: RunOptions, *, json_: bool,
            verbose: int, quiet: bool = False) -> None:
    """Run a photo job with the output chosen and exit with its code (0; 1 some failed;
    130 interrupted). Errors that end the job before it starts reach the CLI's error net.
    With `quiet`, only failures and the summary are printed."""
    repeats: Repeats | None = None
    try:
        with stop_on_signals() as stop:
            if json_:
                result = job(JsonOutput(), stop)
            elif quiet or not sys.stdout.isatty():
                plain = PlainOutput(verbose > 0, quiet=quiet)
                repeats = plain.repeats
                result = job(plain, stop)
            else:
                with progress_bar(roots, follow_symlinks=options.follow_symlinks,
                                  verbose=verbose > 0) as bar:
                    repeats = bar.repeats
                    result = job(bar, stop)
    except KeyboardInterrupt:
        notice("aborted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for line in repeats.lines() if repeats else ():
        notice(line)
    _summary(result.summary, json_, result.unusable, interrupted=result.interrupted,
             verbose=verbose > 0)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


def _summary(summary: Summary, json_: bool, unusable: dict[str, str], *,
             interrupted: bool = False, verbose: bool = False) -> None:
    counts = summary.counts
    if json_:
        record = summary.to_dict()
        if unusable:
            record["summary"]["errors"] = unusable
        if interrupted:
            record["summary"]["interrupted"] = True
        print(json_line(record), flush=True)
    else:
        upgraded = f" ({summary.upgraded} upgraded)" if summary.upgraded else ""
        # The photos not reached are not counted anywhere: say the run did not finish.
        stopped = "interrupted after " if interrupted else ""
        typer.echo(f"xmpvision: {stopped}{counts['done']} done{upgraded}, "
                   f"{counts['unchanged']} unchanged, {counts['skipped']} skipped, "
                   f"{counts['failed']} failed in {summary.seconds:.1f} s")
        for counted in summary.requests.values() if verbose else ():
            if counted.photos or counted.uncounted:
                typer.echo(f"xmpvision: {counted_line(counted)}")
        for service in summary.services:
            notice(service_line(service))
    for error in unusable.values():
        notice(error)


def counted_line(counted: Counted) -> str:
    """What the servers counted (or xmpvision did), per photo and per request of each kind;
    requests whose server did not count are named, never counted as 0."""
    missed = (f"not counted by the server for {counted.uncounted} "
              f"{'request' if counted.uncounted == 1 else 'requests'}")
    if not counted.photos:
        return f"{counted.name}: n/a, {missed}"
    kinds = ", ".join(f"{kind} {counted.per_request(kind):.1f}"
                      for kind in sorted(counted.amounts))
    photos = "photo" if counted.photos == 1 else "photos"
    line = (f"{counted.name}: {counted.per_photo or 0:.1f} per photo over {counted.photos} "
            f"{photos} (per request: {kinds})")
    return f"{line}; {missed}" if counted.uncounted else line


def service_line(service: ServiceReport) -> str:
    """One line per server that went down during the run (its circuit breaker opened)."""
    now = {"closed": "back", "open": "still down", "half-open": "being probed"}[service.state]
    requests = "request" if service.skipped == 1 else "requests"
    return (f"{printable(service.endpoint)} went down {service.opened}x ({now}): "
            f"{service.skipped} {requests} not sent to it, "
            f"{service.lost:.1f} s spent waiting on it; last: {printable(service.reason or '')}")


def reporter_for(json_: bool) -> JsonOutput | PlainOutput:
    return JsonOutput() if json_ else PlainOutput(False)
