"""Options shared by every command: config, verbosity and logging."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from xmpvision.config import LoadedConfig, load_config

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


def get_config(path: Path | None) -> LoadedConfig:
    """The effective configuration; a ConfigError reaches the CLI's error net (exit 2)."""
    return load_config(path)
