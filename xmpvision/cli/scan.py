"""`xmpvision scan DIR...`: caption and tag a library, writing sidecars."""

from __future__ import annotations

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
from xmpvision.cli.run import FollowOption, JobsOption, JsonOption, StateOption, execute

if TYPE_CHECKING:
    from xmpvision.pipeline import Reporter, RunResult

ForceOption = Annotated[
    bool, typer.Option("--force", "-f", help="Redo photos already done; replace generated "
                       "values (never yours).")
]
RetryFailedOption = Annotated[
    bool,
    typer.Option("--retry-failed", help="Try again photos that failed for a reason of their own "
                 "(empty, truncated, not an image) and are unchanged since; else they are "
                 "skipped."),
]


def scan(
    dirs: Annotated[list[Path], typer.Argument(help="Folders (or photos) to scan.",
                                               show_default=False)],
    config: ConfigOption = None,
    state: StateOption = None,
    json_: JsonOption = False,
    jobs_: JobsOption = None,
    follow_symlinks: FollowOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned sidecar "
                                          "changes; write nothing.")] = False,
    retry_failed: RetryFailedOption = False,
    force: ForceOption = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Discover photos, run every model whose Run mode applies to indexing (on-index and
    newly-indexed, as one chain per type), write sidecars, print a summary.

    Photos already done and unchanged since are not redone (unless --force); a run that was
    killed resumes.
    """
    from xmpvision import jobs
    from xmpvision.pipeline import RunOptions

    setup_logging(verbose, quiet)
    loaded = get_config(config, quiet=quiet)
    options = RunOptions(force=force, dry_run=dry_run, jobs=jobs_,
                         follow_symlinks=follow_symlinks, retry_failed=retry_failed)

    def job(reporter: Reporter, stop: threading.Event) -> RunResult:
        return jobs.run_scan(loaded.config, dirs, options=options, reporter=reporter,
                             state_path=state, stop=stop)

    execute(job, dirs, options, json_=json_, verbose=verbose, quiet=quiet)


