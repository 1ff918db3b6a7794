"""Running the pipeline from the CLI: output (progress bar, plain lines or NDJSON), signals,
exit codes. Shared by `scan` and `vision run`."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from xmpvision.analyze import Analyzer, build_analyzer
from xmpvision.cli.options import Exit
from xmpvision.config import VisionConfig
from xmpvision.errors import SidecarError
from xmpvision.library import DiscoveryError, Photo, discover, iter_photos
from xmpvision.pipeline import Pipeline, RunOptions, RunResult
from xmpvision.report import PhotoReport, Status, Summary, json_line
from xmpvision.runlock import RunLocked, run_lock
from xmpvision.runmodes import RunMode
from xmpvision.sidecar import existing_sidecar, reset_sidecar
from xmpvision.sidecar.paths import Naming
from xmpvision.state import StateDB, StateError, default_state_path

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
                 help="Worker threads (default: the services' Parallel plus 2).",
                 show_default=False),
]
FollowOption = Annotated[
    bool, typer.Option("--follow-symlinks", help="Follow symlinked folders and files.")
]


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM ask for a clean stop (in-flight photos finish); a second one aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("xmpvision: stopping after the photos in flight (again to abort)", file=sys.stderr)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _PlainOutput:
    """Plain lines: changed and failed photos (unchanged ones with -v), errors on stderr."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose

    def unchanged(self, path: str) -> None:
        if self.verbose:
            print(f"unchanged {path}", flush=True)

    def photo(self, report: PhotoReport) -> None:
        path = os.fsdecode(report.path)
        if report.status == "failed":
            print(f"failed {path}: {report.error}", file=sys.stderr, flush=True)
        elif report.status != "unchanged" or self.verbose:
            extra = f" ({report.error})" if report.error else ""
            print(f"{report.status} {path}{extra}", flush=True)
            if report.planned is not None:
                for key, value in report.planned.items():
                    if value:
                        print(f"  {key}: {value}", flush=True)


class _JsonOutput:
    """NDJSON on stdout, one object per photo."""

    def __init__(self) -> None:
        # Every unchanged record is the same but for its path: format it once.
        template = PhotoReport(Path("-"), "unchanged").to_dict()
        head, _, tail = json_line(template).partition('"-"')
        self._unchanged = (head, tail)

    def unchanged(self, path: str) -> None:
        head, tail = self._unchanged
        sys.stdout.write(f"{head}{json_line(path)}{tail}\n")

    def photo(self, report: PhotoReport) -> None:
        print(json_line(report.to_dict()), flush=True)


def execute(
    roots: Sequence[Path],
    config: VisionConfig,
    *,
    types: Sequence[str],
    contexts: Sequence[RunMode],
    options: RunOptions,
    state_path: Path | None,
    json_: bool,
    verbose: int,
) -> None:
    """Run the pipeline and exit with the SPEC's code (0, 1 some failed, 130 interrupted)."""
    analyzer = build_analyzer(config, types, contexts)
    if not analyzer.types:
        typer.echo(f"xmpvision: no model of type {', '.join(types)} runs in this context "
                   f"({', '.join(c.value for c in contexts)}); see `xmpvision vision ls`",
                   err=True)
        raise typer.Exit(int(Exit.USAGE))
    path = state_path or default_state_path()
    with ExitStack() as stack:
        try:
            stack.enter_context(run_lock(path))
            state = stack.enter_context(StateDB.open(path))
        except (StateError, RunLocked, OSError) as exc:
            typer.echo(f"xmpvision: {exc}", err=True)
            raise typer.Exit(int(Exit.USAGE)) from None
        stack.callback(analyzer.close)
        try:
            with _stop_on_signals() as stop:
                result = _run(roots, analyzer, state, options, stop, json_=json_,
                              verbose=verbose)
        except KeyboardInterrupt:
            typer.echo("xmpvision: aborted", err=True)
            raise typer.Exit(int(Exit.INTERRUPTED)) from None
    counts = result.summary.counts
    if json_:
        record = result.summary.to_dict()
        if result.unusable:
            record["summary"]["errors"] = result.unusable
        print(json_line(record), flush=True)
    else:
        typer.echo(f"xmpvision: {counts['done']} done, {counts['unchanged']} unchanged, "
                   f"{counts['skipped']} skipped, {counts['failed']} failed "
                   f"in {result.summary.seconds:.1f} s")
    for model_type, error in result.unusable.items():
        typer.echo(f"xmpvision: no {model_type} model could run: {error}", err=True)
    if result.interrupted:
        raise typer.Exit(int(Exit.INTERRUPTED))
    if not result.ok:
        raise typer.Exit(int(Exit.FAILED))


def _run(
    roots: Sequence[Path],
    analyzer: Analyzer,
    state: StateDB,
    options: RunOptions,
    stop: threading.Event,
    *,
    json_: bool,
    verbose: int,
) -> RunResult:
    if json_:
        return Pipeline(analyzer, state, options, _JsonOutput(), stop).run(roots)
    if not sys.stdout.isatty():
        return Pipeline(analyzer, state, options, _PlainOutput(verbose > 0), stop).run(roots)
    return _run_with_progress(roots, analyzer, state, options, stop, verbose)


def _run_with_progress(
    roots: Sequence[Path],
    analyzer: Analyzer,
    state: StateDB,
    options: RunOptions,
    stop: threading.Event,
    verbose: int,
) -> RunResult:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    # Counting first is cheap next to the model calls, and gives the bar its ETA.
    total = sum(1 for _ in iter_photos(roots, follow_symlinks=options.follow_symlinks,
                                       on_error=lambda _error: None))
    plain = _PlainOutput(verbose > 0)
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("photos", total=total, rate="")

        class _Bar:
            def unchanged(self, path: str) -> None:
                progress.update(task, advance=1)

            def photo(self, item: PhotoReport) -> None:
                if item.status == "failed":
                    progress.console.print(f"[red]failed[/red] {os.fsdecode(item.path)}: "
                                           f"{item.error}", markup=True, highlight=False)
                elif item.status == "done" and verbose:
                    plain.photo(item)
                speed = progress.tasks[task].speed
                progress.update(task, advance=1, rate=f"{speed:.1f}/s" if speed else "")

        return Pipeline(analyzer, state, options, _Bar(), stop).run(roots)



def reset_library(
    roots: Sequence[Path],
    types: set[str],
    source: str,
    *,
    naming: Naming,
    dry_run: bool,
    state_path: Path | None,
    json_: bool,
    follow_symlinks: bool,
) -> Exit:
    """`vision reset` over every photo under `roots`: our values out, the state forgotten."""
    summary = Summary()
    output: _JsonOutput | _PlainOutput = _JsonOutput() if json_ else _PlainOutput(False)
    path = state_path or default_state_path()
    started = time.monotonic()
    try:
        with run_lock(path), StateDB.open(path) as state:
            for item in discover(roots, follow_symlinks=follow_symlinks):
                if isinstance(item, DiscoveryError):
                    report = PhotoReport(Path(item.path), "failed", error=str(item))
                else:
                    report = _reset_one(item, types, source, naming, dry_run, state)
                summary.add(report.status)
                if report.status == "unchanged":
                    output.unchanged(item.path)
                else:
                    output.photo(report)
    except (StateError, RunLocked, OSError) as exc:
        typer.echo(f"xmpvision: {exc}", err=True)
        return Exit.USAGE
    summary.seconds = time.monotonic() - started
    if json_:
        print(json_line(summary.to_dict()), flush=True)
    else:
        counts = summary.counts
        typer.echo(f"xmpvision: reset {counts['done']}, {counts['unchanged']} unchanged, "
                   f"{counts['failed']} failed")
    return Exit.FAILED if summary.failed else Exit.OK


def _reset_one(photo: Photo, types: set[str], source: str, naming: Naming, dry_run: bool,
               state: StateDB) -> PhotoReport:
    path = Path(photo.path)
    if existing_sidecar(path, naming) is None:
        return PhotoReport(path, "unchanged")
    try:
        change = reset_sidecar(path, types, source, naming=naming, dry_run=dry_run)
    except SidecarError as exc:
        return PhotoReport(path, "failed", error=str(exc))
    if change.changed and not dry_run:
        state.forget(photo, types)
    planned = {"keywords_removed": list(change.keywords_removed),
               "caption_removed": change.caption_removed} if dry_run else None
    status: Status = "done" if change.changed else "unchanged"
    return PhotoReport(path, status, sidecar=change.path, planned=planned)
