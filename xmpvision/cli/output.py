"""How a run is shown: a progress bar on a terminal, plain lines otherwise, or NDJSON. Each is a
`Reporter` the library's jobs report to."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from xmpvision.discover import iter_photos
from xmpvision.report import PhotoReport, json_line

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def notice(message: str) -> None:
    print(f"xmpvision: {message}", file=sys.stderr, flush=True)


class PlainOutput:
    """Plain lines: changed and failed photos (unchanged ones with -v), errors on stderr."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose

    def notice(self, message: str) -> None:
        notice(message)

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


class JsonOutput:
    """NDJSON on stdout, one object per photo; notices go to stderr."""

    def __init__(self) -> None:
        # Every unchanged record is the same but for its path: format it once.
        template = PhotoReport(Path("-"), "unchanged").to_dict()
        head, _, tail = json_line(template).partition('"-"')
        self._unchanged = (head, tail)

    def notice(self, message: str) -> None:
        notice(message)

    def unchanged(self, path: str) -> None:
        head, tail = self._unchanged
        sys.stdout.write(f"{head}{json_line(path)}{tail}\n")

    def photo(self, report: PhotoReport) -> None:
        print(json_line(report.to_dict()), flush=True)


class ProgressOutput:
    """A rich progress bar with rate and ETA; failures printed above it."""

    def __init__(self, progress: Progress, task: TaskID, verbose: bool) -> None:
        self._progress = progress
        self._task = task
        self._plain = PlainOutput(verbose)
        self._verbose = verbose

    def notice(self, message: str) -> None:
        self._progress.console.print(f"xmpvision: {message}", markup=False, highlight=False)

    def unchanged(self, path: str) -> None:
        self._progress.update(self._task, advance=1)

    def photo(self, report: PhotoReport) -> None:
        if report.status == "failed":
            self._progress.console.print(
                f"failed {os.fsdecode(report.path)}: {report.error}", markup=False,
                highlight=False, style="red",
            )
        elif report.status == "done" and self._verbose:
            self._plain.photo(report)
        speed = self._progress.tasks[self._task].speed
        self._progress.update(self._task, advance=1, rate=f"{speed:.1f}/s" if speed else "")


@contextmanager
def progress_bar(roots: Sequence[Path], *, follow_symlinks: bool,
                 verbose: bool) -> Iterator[ProgressOutput]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    # Counting first is cheap next to the model calls, and gives the bar its ETA.
    total = sum(1 for _ in iter_photos(roots, follow_symlinks=follow_symlinks,
                                       on_error=lambda _error: None))
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("photos", total=total, rate="")
        yield ProgressOutput(progress, task, verbose)

