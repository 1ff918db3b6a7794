"""Options shared by every command, and the one place that turns errors into exit codes."""

from __future__ import annotations

import logging
import sys
from enum import IntEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from xmpvision.config import LoadedConfig, load_config
from xmpvision.errors import ConfigError


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # some files failed, each reported
    USAGE = 2  # usage or config error
    INTERRUPTED = 130


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="vision.yml to use (else $XMPVISION_CONFIG, ./vision.yml, "
        "~/.config/xmpvision/vision.yml, /etc/xmpvision/vision.yml).",
        show_default=False,
    ),
]
VerboseOption = Annotated[int, typer.Option("-v", "--verbose", count=True, help="More log output.")]
QuietOption = Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")]


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    # Logs go to stderr so that --json output on stdout stays machine-readable.
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(message)s")


def fail(message: str, code: Exit = Exit.USAGE) -> NoReturn:
    typer.echo(f"xmpvision: {message}", err=True)
    raise typer.Exit(int(code))


def get_config(path: Path | None) -> LoadedConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(int(Exit.USAGE)) from None
