"""`xmpvision scan DIR...`: caption and tag a library, writing sidecars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xmpvision.analyze import SCAN_CONTEXTS
from xmpvision.cli.options import (
    ConfigOption,
    QuietOption,
    VerboseOption,
    get_config,
    setup_logging,
)
from xmpvision.cli.run import FollowOption, JobsOption, JsonOption, StateOption, execute
from xmpvision.config import SUPPORTED_TYPES
from xmpvision.pipeline import RunOptions


def scan(
    dirs: Annotated[list[Path], typer.Argument(help="Folders (or photos) to scan.",
                                               show_default=False)],
    config: ConfigOption = None,
    state: StateOption = None,
    json_: JsonOption = False,
    jobs: JobsOption = None,
    follow_symlinks: FollowOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned sidecar "
                                          "changes; write nothing.")] = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Discover photos, run every model whose Run mode applies to indexing (on-index and
    newly-indexed, as one chain per type), write sidecars, print a summary.

    Photos already done and unchanged since are not redone; a run that was killed resumes.
    """
    setup_logging(verbose, quiet)
    loaded = get_config(config)
    options = RunOptions(dry_run=dry_run, jobs=jobs, follow_symlinks=follow_symlinks,
                         naming=loaded.config.sidecar.naming)
    execute(dirs, loaded.config, types=SUPPORTED_TYPES, contexts=SCAN_CONTEXTS,
            options=options, state_path=state, json_=json_, verbose=verbose)
