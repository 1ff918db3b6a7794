"""The command line: a thin layer over the library that parses options and renders results.

`main` is the one error net: every `XmpvisionError` becomes its message and its exit code, and
nothing else that goes wrong reaches a user as a traceback.

Every process builds the whole command tree, so the command modules import the library's heavy
parts (the run machinery, the daemon, downloads) inside the commands that use them.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import warnings
from typing import Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from xmpvision import __version__
from xmpvision.cli import config as config_cli
from xmpvision.cli import daemon as daemon_cli
from xmpvision.cli import models, vision
from xmpvision.cli.scan import scan
from xmpvision.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ConfigError,
    XmpvisionError,
    redact,
)
from xmpvision.text.untrusted import printable

log = logging.getLogger(__name__)


def _print_error(exc: XmpvisionError) -> None:
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            print(printable(problem), file=sys.stderr)
    else:
        print(f"xmpvision: {printable(str(exc))}", file=sys.stderr)


class _ErrorNet(TyperGroup):
    """The root command group: every command runs inside it, so this is where an error that
    ends a command becomes its message and exit code (also under typer's test runner)."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own: usage errors, --help, our exit codes
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other tools do.
            _silence_stdout()
            raise typer.Exit(EXIT_FAILED) from None
        except XmpvisionError as exc:
            _print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            log.debug("internal error", exc_info=True)
            print(f"xmpvision: internal error: {type(exc).__name__}: "
                  f"{printable(redact(str(exc)))} (run with -vv for details)", file=sys.stderr)
            raise typer.Exit(EXIT_FAILED) from None


app = typer.Typer(
    name="xmpvision",
    cls=_ErrorNet,
    help="AI captions and keywords from Ollama, written to XMP sidecars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("scan")(scan)
app.command("daemon")(daemon_cli.daemon)
app.command("health")(daemon_cli.health)
app.command("status")(daemon_cli.status)
app.command("doctor")(daemon_cli.doctor)
app.add_typer(vision.app, name="vision")
app.add_typer(models.app, name="models")
app.add_typer(config_cli.app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xmpvision {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """xmpvision: AI captions and keywords from Ollama, written to XMP sidecars."""


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing at exit does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _configure_process() -> None:
    # Our own size check turns an oversized image into a per-photo error before any pixel is
    # decoded; Pillow's warning for the same condition would only be noise on stderr.
    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def main() -> None:
    _configure_process()
    # What is loaded by now lives as long as the process: no garbage collection need walk it
    # again (a full one walks every object).
    gc.freeze()
    try:
        app()
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        print("xmpvision: aborted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        # The process ends: the full collection Python makes at exit would walk everything
        # the command loaded and made, to free memory the exit frees anyway (~60 ms).
        gc.freeze()
