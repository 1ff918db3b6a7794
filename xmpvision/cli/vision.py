"""`xmpvision vision ...`: inspect and run the model chains."""

from __future__ import annotations

from typing import Annotated

import typer

from xmpvision.cli.options import (
    ConfigOption,
    QuietOption,
    VerboseOption,
    get_config,
    setup_logging,
)
from xmpvision.cli.render import TableFormat, print_table
from xmpvision.listing import COLUMNS, model_rows
from xmpvision.sources import SOURCE_PRIORITY

app = typer.Typer(help="Inspect and run the vision models.", no_args_is_help=True)


def _format(json_: bool, md: bool, csv_: bool, tsv: bool) -> TableFormat:
    chosen = [f for f, on in ((TableFormat.JSON, json_), (TableFormat.MD, md),
                              (TableFormat.CSV, csv_), (TableFormat.TSV, tsv)) if on]
    if len(chosen) > 1:
        raise typer.BadParameter("choose one of --json, --md, --csv, --tsv")
    return chosen[0] if chosen else TableFormat.TABLE


JsonFlag = Annotated[bool, typer.Option("--json", help="JSON array.")]
MdFlag = Annotated[bool, typer.Option("--md", help="Markdown table.")]
CsvFlag = Annotated[bool, typer.Option("--csv", help="CSV.")]
TsvFlag = Annotated[bool, typer.Option("--tsv", help="Tab-separated values.")]


@app.command("ls")
def ls(
    config: ConfigOption = None,
    json_: JsonFlag = False,
    md: MdFlag = False,
    csv_: CsvFlag = False,
    tsv: TsvFlag = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """List each type's model chain in evaluation order (1 = tried first)."""
    setup_logging(verbose, quiet)
    fmt = _format(json_, md, csv_, tsv)
    loaded = get_config(config)
    print_table(model_rows(loaded.config), COLUMNS, fmt)


@app.command("sources")
def sources(
    json_: JsonFlag = False,
    md: MdFlag = False,
    csv_: CsvFlag = False,
    tsv: TsvFlag = False,
) -> None:
    """List source names and their priorities (higher wins when values conflict)."""
    rows = [{"source": name, "priority": prio}
            for name, prio in sorted(SOURCE_PRIORITY.items(), key=lambda kv: (-kv[1], kv[0]))]
    print_table(rows, ("source", "priority"), _format(json_, md, csv_, tsv))
