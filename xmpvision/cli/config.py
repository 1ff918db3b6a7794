"""`xmpvision config generate` and `config check`: thin commands over config/sample.py and the
loaders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from xmpvision.cli.daemon import SchedulesOption
from xmpvision.cli.options import ConfigOption, get_config
from xmpvision.config.loader import SYSTEM_CONFIG
from xmpvision.errors import EXIT_USAGE

app = typer.Typer(help="Write a commented vision.yml, or check one.", no_args_is_help=True)


@app.command("generate")
def generate(
    system: Annotated[bool, typer.Option(
        "--system", help=f"Write {SYSTEM_CONFIG} (the file the systemd units read).")] = False,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write to this file instead of stdout.",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a file that exists.")] = False,
) -> None:
    """Print a vision.yml with every key, its default and what it accepts, generated from the
    configuration schema; the models are those a run without a vision.yml uses."""
    from xmpvision.config.sample import sample_config, write_sample

    if system and output is not None:
        print("xmpvision: give --system or -o FILE, not both", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    target = SYSTEM_CONFIG if system else output
    if target is None:
        sys.stdout.write(sample_config())
        return
    print(f"wrote {write_sample(target, force=force)}")


@app.command("check")
def check(config: ConfigOption = None, schedules: SchedulesOption = None) -> None:
    """Load vision.yml and the schedules as the daemon would; exit 2 naming every problem
    (what `systemctl reload xmpvision` runs before it signals the daemon)."""
    from xmpvision.config.schedules import find_schedule_dir, load_schedules

    loaded = get_config(config)
    found = load_schedules(find_schedule_dir(schedules))
    where = str(loaded.path) if loaded.path is not None else "built-in defaults (no vision.yml)"
    print(f"ok: {where}; {len(found.jobs)} scheduled job(s) in {len(found.files)} file(s)")
