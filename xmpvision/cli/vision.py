"""`xmpvision vision ...`: inspect and run the model chains."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from xmpvision.analyze import MANUAL_CONTEXTS, build_analyzer
from xmpvision.cli.options import (
    ConfigOption,
    Exit,
    QuietOption,
    VerboseOption,
    fail,
    get_config,
    setup_logging,
)
from xmpvision.cli.render import TableFormat, print_photo, print_table
from xmpvision.cli.run import (
    FollowOption,
    JobsOption,
    JsonOption,
    StateOption,
    execute,
    reset_library,
)
from xmpvision.cli.types_option import TypesOption, parse_types
from xmpvision.errors import ImageError
from xmpvision.images import PhotoImage
from xmpvision.listing import COLUMNS, model_rows
from xmpvision.pipeline import RunOptions
from xmpvision.report import PhotoReport, json_line
from xmpvision.sidecar import find_sidecar
from xmpvision.sources import SOURCE_PRIORITY, UnknownSourceError, normalize_source

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


@app.command("test")
def test(
    image: Annotated[Path, typer.Argument(help="The photo to analyse.", show_default=False)],
    models: TypesOption = "caption",
    config: ConfigOption = None,
    json_: JsonFlag = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Run the chain on one photo and print the result; writes nothing (for prompt tuning)."""
    setup_logging(verbose, quiet)
    types = parse_types(models)
    loaded = get_config(config)
    analyzer = build_analyzer(loaded.config, types, MANUAL_CONTEXTS)
    sidecar = find_sidecar(image, loaded.config.sidecar.naming)
    try:
        with PhotoImage(image) as photo:
            result = analyzer.analyze(photo)
        failed = len(result.errors) == len(types)
        report = PhotoReport(
            path=image, sidecar=sidecar, status="failed" if failed else "done", result=result,
            error="; ".join(f"{t}: {e}" for t, e in result.errors.items()) or None,
        )
    except ImageError as exc:
        report = PhotoReport(path=image, sidecar=sidecar, status="failed", error=str(exc))
    finally:
        analyzer.close()
    if json_:
        print(json_line(report.to_dict()))
    else:
        print_photo(report)
    if report.status == "failed":
        raise typer.Exit(int(Exit.FAILED))


PathsArgument = Annotated[
    list[Path] | None,
    typer.Argument(help="Folders or photos (default: the current folder).", show_default=False),
]


@app.command("run")
def run(
    paths: PathsArgument = None,
    models: TypesOption = "caption",
    force: Annotated[bool, typer.Option("--force", "-f", help="Redo photos already done; "
                                        "replace generated values (never yours).")] = False,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Record the values "
                                               "under this source (see `vision sources`).",
                                               show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned sidecar change "
                                          "per photo; write nothing.")] = False,
    count: Annotated[int | None, typer.Option("--count", "-n", min=1, help="Process at most N "
                                              "photos.", show_default=False)] = None,
    config: ConfigOption = None,
    state: StateOption = None,
    json_: JsonOption = False,
    jobs: JobsOption = None,
    follow_symlinks: FollowOption = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Run the named model types now (the manual context), bottom-up with fallback."""
    setup_logging(verbose, quiet)
    types = parse_types(models)
    try:
        source_name = normalize_source(source) if source else None
    except UnknownSourceError as exc:
        raise typer.BadParameter(str(exc), param_hint="--source") from None
    loaded = get_config(config)
    options = RunOptions(force=force, dry_run=dry_run, source=source_name, count=count,
                         jobs=jobs, follow_symlinks=follow_symlinks,
                         naming=loaded.config.sidecar.naming)
    execute(paths or [Path.cwd()], loaded.config, types=types, contexts=MANUAL_CONTEXTS,
            options=options, state_path=state, json_=json_, verbose=verbose)


@app.command("reset")
def reset(
    paths: PathsArgument = None,
    models: TypesOption = "caption",
    source: Annotated[str, typer.Option("--source", "-s", help="Remove only values xmpvision "
                                        "wrote under this source.")] = "ollama",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be removed; "
                                          "write nothing.")] = False,
    config: ConfigOption = None,
    state: StateOption = None,
    json_: JsonOption = False,
    follow_symlinks: FollowOption = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Remove the values xmpvision wrote (of one source) from sidecars; yours stay.

    The next `vision run` (or a scan of changed photos) generates them again.
    """
    setup_logging(verbose, quiet)
    types = parse_types(models)
    try:
        source_name = normalize_source(source)
    except UnknownSourceError as exc:
        raise typer.BadParameter(str(exc), param_hint="--source") from None
    loaded = get_config(config)
    roots = paths or [Path.cwd()]
    if not (yes or dry_run):
        where = ", ".join(str(p) for p in roots)
        if not sys.stdin.isatty():
            fail(f"vision reset removes {', '.join(types)} from sidecars under {where}; "
                 "pass --yes to confirm")
        typer.confirm(f"Remove {', '.join(types)} written by source {source_name!r} from "
                      f"sidecars under {where}?", abort=True)
    code = reset_library(roots, set(types), source_name, naming=loaded.config.sidecar.naming,
                         dry_run=dry_run, state_path=state, json_=json_,
                         follow_symlinks=follow_symlinks)
    raise typer.Exit(int(code))
