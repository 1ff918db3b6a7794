"""`xmpvision vision ...`: inspect and run the model chains."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xmpvision.cli.options import (
    ConfigOption,
    QuietOption,
    VerboseOption,
    get_config,
    setup_logging,
)
from xmpvision.cli.output import notice
from xmpvision.cli.render import TableFormat, print_photo, print_table
from xmpvision.cli.run import (
    FollowOption,
    JobsOption,
    JsonOption,
    StateOption,
    execute,
    reporter_for,
)
from xmpvision.cli.scan import ForceOption, RetryFailedOption
from xmpvision.cli.types_option import TypesOption, parse_types
from xmpvision.errors import EXIT_FAILED, EXIT_OK, UnknownSourceError, UsageError
from xmpvision.listing import COLUMNS, ignored_entries, model_rows, shown_parallel
from xmpvision.report import json_line
from xmpvision.sources import DEFAULT_SOURCE, SOURCE_PRIORITY, normalize_source
from xmpvision.state import default_state_path, read_found

if TYPE_CHECKING:
    from xmpvision.pipeline import Reporter, RunResult

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
    state: StateOption = None,
    json_: JsonFlag = False,
    md: MdFlag = False,
    csv_: CsvFlag = False,
    tsv: TsvFlag = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """List each type's model chain in evaluation order (1 = tried first, the model
    PhotoPrism itself would run; the others are fallbacks), after the config file shown.
    Under Parallel: auto, what the last run found (kept in the state database)."""
    setup_logging(verbose, quiet)
    fmt = _format(json_, md, csv_, tsv)
    loaded = get_config(config, quiet=quiet)
    # Read-only: listing never creates the state database.
    rows = model_rows(loaded.config, read_found(state or default_state_path()))
    if fmt is TableFormat.TABLE:
        # Which file this is: a vision.yml found elsewhere than expected explains a lot.
        print(f"config: {loaded.path or 'none found, built-in defaults'}")
    if fmt is not TableFormat.JSON:
        rows = [{**row, "parallel": shown_parallel(row)} for row in rows]
    print_table(rows, COLUMNS, fmt)
    if fmt is TableFormat.TABLE:
        ignored = ignored_entries(loaded.config)
        if ignored:
            print(f"PhotoPrism also runs, xmpvision does not: {', '.join(ignored)}")
        for row in rows:
            if row["problem"] and row["status"] == "not installed":
                notice(f"{row['type']} model {row['engine']}:{row['model']} cannot run here: "
                       f"{row['problem']}")


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
    json_: Annotated[bool, typer.Option(
        "--json", help="One JSON object: the photo's record, as a scan's --json prints it "
        "per photo.")] = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Run the chain on one photo and print the result; writes nothing (for prompt tuning)."""
    from xmpvision import jobs

    setup_logging(verbose, quiet)
    types = parse_types(models)
    loaded = get_config(config, quiet=quiet)
    report = jobs.test_photo(loaded.config, image, types)
    if json_:
        print(json_line(report.to_dict()))
    else:
        print_photo(report)
    raise typer.Exit(EXIT_FAILED if report.status == "failed" else EXIT_OK)


PathsArgument = Annotated[
    list[Path] | None,
    typer.Argument(help="Folders or photos (default: the current folder).", show_default=False),
]


@app.command("run")
def run(
    paths: PathsArgument = None,
    models: TypesOption = "caption",
    force: ForceOption = False,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Record the values "
                                               "under this source (see `vision sources`).",
                                               show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned sidecar change "
                                          "per photo; write nothing.")] = False,
    count: Annotated[int | None, typer.Option("--count", "-n", min=1, help="Process at most N "
                                              "photos.", show_default=False)] = None,
    retry_failed: RetryFailedOption = False,
    config: ConfigOption = None,
    state: StateOption = None,
    json_: JsonOption = False,
    jobs_: JobsOption = None,
    follow_symlinks: FollowOption = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Run the named model types now (the manual context), bottom-up with fallback."""
    from xmpvision import jobs
    from xmpvision.pipeline import RunOptions

    setup_logging(verbose, quiet)
    types = parse_types(models)
    try:
        source_name = normalize_source(source) if source else None
    except UnknownSourceError as exc:
        raise typer.BadParameter(str(exc), param_hint="--source") from None
    loaded = get_config(config, quiet=quiet)
    options = RunOptions(force=force, dry_run=dry_run, source=source_name, count=count,
                         jobs=jobs_, follow_symlinks=follow_symlinks,
                         retry_failed=retry_failed)
    roots = paths or [Path.cwd()]

    def job(reporter: Reporter, stop: threading.Event) -> RunResult:
        return jobs.run_models(loaded.config, roots, types=types, contexts=jobs.MANUAL_CONTEXTS,
                               options=options, reporter=reporter, state_path=state, stop=stop)

    execute(job, roots, options, json_=json_, verbose=verbose, quiet=quiet)


@app.command("reset")
def reset(
    paths: PathsArgument = None,
    models: TypesOption = "caption",
    source: Annotated[str, typer.Option("--source", "-s", help="Remove only values xmpvision "
                                        "wrote under this source.")] = DEFAULT_SOURCE,
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
    from xmpvision import jobs

    setup_logging(verbose, quiet)
    types = parse_types(models)
    try:
        source_name = normalize_source(source)
    except UnknownSourceError as exc:
        raise typer.BadParameter(str(exc), param_hint="--source") from None
    loaded = get_config(config, quiet=quiet)
    roots = paths or [Path.cwd()]
    if not (yes or dry_run):
        where = ", ".join(str(p) for p in roots)
        if not sys.stdin.isatty():
            raise UsageError(f"vision reset removes {', '.join(types)} from sidecars under "
                             f"{where}; pass --yes to confirm")
        typer.confirm(f"Remove {', '.join(types)} written by source {source_name!r} from "
                      f"sidecars under {where}?", abort=True)
    summary = jobs.reset_library(roots, set(types), source_name, reporter=reporter_for(json_),
                                 naming=loaded.config.sidecar.naming, dry_run=dry_run,
                                 state_path=state, follow_symlinks=follow_symlinks)
    if json_:
        print(json_line(summary.to_dict()), flush=True)
    else:
        counts = summary.counts
        typer.echo(f"xmpvision: reset {counts['done']}, {counts['unchanged']} unchanged, "
                   f"{counts['failed']} failed")
    raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)
