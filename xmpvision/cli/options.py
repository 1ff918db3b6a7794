"""Options shared by every command: config, verbosity and logging."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xmpvision.cli.logs import setup_logging

if TYPE_CHECKING:
    from xmpvision.config import LoadedConfig

__all__ = ["ConfigOption", "QuietOption", "VerboseOption", "get_config", "setup_logging"]

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
QuietOption = Annotated[bool, typer.Option("-q", "--quiet", help="Only errors and the summary.")]


def get_config(path: Path | None, *, quiet: bool = False) -> LoadedConfig:
    """The effective configuration; a ConfigError reaches the CLI's error net (exit 2).
    Its warnings (keys accepted but not used) go to stderr, one line each, like errors: once
    per config file and content, never with -q."""
    from xmpvision.config import load_config
    from xmpvision.config.warned import STORE_NAME, fresh_warnings
    from xmpvision.state import default_state_path

    loaded = load_config(path)
    if quiet:
        return loaded
    for warning in fresh_warnings(loaded, default_state_path().parent / STORE_NAME):
        print(warning, file=sys.stderr)
    return loaded
