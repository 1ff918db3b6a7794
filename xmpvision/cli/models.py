"""`xmpvision models ...`: download the local classifiers and list what is installed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xmpvision.cli.options import QuietOption, VerboseOption, setup_logging
from xmpvision.cli.output import notice
from xmpvision.cli.render import TableFormat, print_table
from xmpvision.cli.vision import CsvFlag, JsonFlag, MdFlag, TsvFlag, _format
from xmpvision.errors import EngineError
from xmpvision.text.untrusted import printable

if TYPE_CHECKING:
    from xmpvision.engines.downloads import Progress

app = typer.Typer(help="Download the local classifier models and list them.",
                  no_args_is_help=True)

COLUMNS = ("name", "engine", "default", "installed", "size")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@contextmanager
def _progress_bar(name: str, enabled: bool) -> Iterator[Progress | None]:
    """A download bar on a terminal (stderr, so stdout keeps only the result); nothing
    otherwise."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
             TransferSpeedColumn(), TimeRemainingColumn(),
             console=Console(stderr=True)) as bar:
        task = bar.add_task(printable(name), total=None)

        def report(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield report


@app.command("pull")
def pull(
    name: Annotated[str, typer.Argument(help="The model (see `xmpvision models ls`).",
                                        show_default=False)],
    file: Annotated[Path | None, typer.Option(
        "--file", help="Install this file, fetched by hand, instead of downloading it.",
        show_default=False)] = None,
    url: Annotated[str | None, typer.Option(
        "--url", help="Download from this URL (a mirror); the checksum is still checked.",
        show_default=False)] = None,
    sha256: Annotated[str | None, typer.Option(
        "--sha256", help="The file's SHA-256, checked instead of the catalog's (a build of "
        "your own, or an upload newer than the catalog).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Download and replace it even "
                                        "when it is installed.")] = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Download a classifier, check its checksum and install it in the models directory."""
    from xmpvision import jobs

    setup_logging(verbose, quiet)
    try:
        with _progress_bar(name, sys.stderr.isatty() and not quiet) as progress:
            result = jobs.pull_model(name, file=file, url=url, sha256=sha256, force=force,
                                     progress=progress)
    except EngineError as exc:
        # The hint (how to install it anyway) belongs on the same line as the failure.
        notice(exc.with_hint())
        raise typer.Exit(exc.exit_code) from None
    path = printable(str(result.path))
    if not result.installed:
        again = f"--force installs {printable(str(file))} in its place" if file else (
            "--force downloads it again")
        print(f"{result.name} is already installed in {path}; {again}")
        return
    # Every catalog entry has a published checksum (or the user gave one), so it was checked.
    checked = f", {result.verified} verified" if result.verified else ""
    print(f"installed {result.name} in {path} ({_human(result.size)} from "
          f"{printable(result.source)}{checked})")


@app.command("ls")
def ls(
    json_: JsonFlag = False,
    md: MdFlag = False,
    csv_: CsvFlag = False,
    tsv: TsvFlag = False,
) -> None:
    """List the known classifiers, where each is installed, and its size."""
    from xmpvision import jobs

    fmt = _format(json_, md, csv_, tsv)
    statuses = jobs.list_models()
    if fmt is TableFormat.JSON:
        print_table([s.to_dict() for s in statuses], (), fmt)
        return
    rows: list[dict[str, Any]] = []
    for status in statuses:
        entry = status.entry
        if status.size is not None:
            size = _human(status.size)
        else:
            size = f"{entry.download_size} download" if entry.download_size else ""
        where = str(status.path) if status.status == "installed" else status.status
        if status.status == "incomplete":
            where = f"incomplete: {status.path}"
        rows.append({"name": entry.name, "engine": entry.engine, "default": entry.default,
                     "installed": where, "size": size})
    print_table(rows, COLUMNS, fmt)
