"""The command line: a thin layer over the library that parses options and renders results."""

from __future__ import annotations

import typer

from xmpvision import __version__
from xmpvision.cli import vision
from xmpvision.cli.scan import scan

app = typer.Typer(
    name="xmpvision",
    help="AI captions and keywords from Ollama, written to XMP sidecars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("scan")(scan)
app.add_typer(vision.app, name="vision")


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


def main() -> None:
    app()
