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
from xmpvision.text.untrusted import printable

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def notice(message: str) -> None:
    print(f"xmpvision: {printable(message)}", file=sys.stderr, flush=True)


class Repeats:
    """Failures for the same reason, word for word (a server down, a type no model can serve):
    the first is shown, the others counted and summed up in one line; -v lists each."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self._counts: dict[str, int] = {}

    def show(self, report: PhotoReport) -> bool:
        """Whether the photo's line is shown."""
        if report.status != "failed" or self.verbose:
            return True
        reason = report.error or ""
        seen = self._counts.get(reason, 0)
        self._counts[reason] = seen + 1
        return seen == 0

    def lines(self) -> list[str]:
        """One line per reason that failed more than one photo."""
        return [f"{count - 1} more {'photo' if count == 2 else 'photos'} failed the same way: "
                f"{printable(reason)} (-v lists them)"
                for reason, count in self._counts.items() if count > 1]


class PlainOutput:
    """Plain lines: changed and failed photos (unchanged ones with -v; with -q failures only),
    errors on stderr, repeated failures summed up."""

    def __init__(self, verbose: bool, quiet: bool = False) -> None:
        self.verbose = verbose
        self.quiet = quiet
        self.repeats = Repeats(verbose)

    def notice(self, message: str) -> None:
        notice(message)

    def unchanged(self, path: str) -> None:
        if self.verbose:
            print(f"unchanged {printable(path)}", flush=True)

    def photo(self, report: PhotoReport) -> None:
        if self.quiet and report.status != "failed":
            return
        lines = photo_lines(report, self.verbose) if self.repeats.show(report) else []
        if lines:
            print(*lines, sep="\n", flush=True,
                  file=sys.stderr if report.status == "failed" else sys.stdout)


def photo_lines(report: PhotoReport, verbose: bool) -> list[str]:
    """The plain lines of one photo: every file name and message escaped (a newline in a name
    cannot forge a line, an escape sequence cannot reach the terminal)."""
    path = printable(os.fsdecode(report.path))
    if report.status == "failed":
        return [f"failed {path}: {printable(report.error or '')}"]
    planned = any((report.planned or {}).values())
    if report.status == "unchanged" and not verbose and not planned:
        return []
    extra = f" ({printable(report.error)})" if report.error else ""
    # A dry run writes nothing: its photos are "unchanged", with the change it would make.
    lines = [f"{'would change' if planned else report.status} {path}{extra}"]
    for key, value in (report.planned or {}).items():
        if value:
            lines.append(f"  {key}: {printable(str(value))}")
    return lines


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
        self._verbose = verbose
        self.repeats = Repeats(verbose)

    def notice(self, message: str) -> None:
        self._progress.console.print(f"xmpvision: {printable(message)}", markup=False,
                                     highlight=False)

    def unchanged(self, path: str) -> None:
        self._progress.update(self._task, advance=1)

    def photo(self, report: PhotoReport) -> None:
        shown = report.status == "failed" or (report.status == "done" and self._verbose)
        if shown and self.repeats.show(report):
            for line in photo_lines(report, self._verbose):
                self._progress.console.print(line, markup=False, highlight=False,
                                             style="red" if report.status == "failed" else None)
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

