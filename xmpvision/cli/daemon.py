"""`xmpvision daemon`, `health`, `status` and `doctor`: thin commands over xmpvision.daemon."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xmpvision.cli.logs import _SafeFormatter
from xmpvision.cli.options import ConfigOption, VerboseOption, get_config, setup_logging
from xmpvision.cli.run import StateOption
from xmpvision.errors import EXIT_FAILED, EXIT_OK
from xmpvision.state import default_state_path
from xmpvision.text.untrusted import printable

if TYPE_CHECKING:
    from xmpvision.health.store import JobRecord

SchedulesOption = Annotated[
    Path | None,
    typer.Option("--schedules", help="Folder of schedule files (*.yml); else "
                 "$XMPVISION_SCHEDULES, ~/.config/xmpvision/schedules/, "
                 "/etc/xmpvision/schedules/.", show_default=False),
]


def _daemon_logging(verbose: int) -> None:
    """INFO by default: one line per event. Under systemd the journal adds the time and
    the level's colour, so the lines carry neither."""
    setup_logging(verbose + 1, False)
    if not (os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID")):
        for handler in logging.getLogger().handlers:
            handler.setFormatter(_SafeFormatter("%(asctime)s %(levelname)s %(message)s"))
    if verbose < 2:
        # One line per request or per scheduler step would drown the events.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def daemon(
    config: ConfigOption = None,
    schedules: SchedulesOption = None,
    state: StateOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Run the schedules and the newly-indexed worker, watching Ollama's health throughout.

    SIGTERM or Ctrl-C: the photos in flight finish, then exit 0. SIGHUP: read vision.yml and
    the schedules again (a broken file is reported and the old configuration kept).
    """
    from xmpvision.daemon.service import run_daemon

    _daemon_logging(verbose)
    raise typer.Exit(run_daemon(config, schedules, state))


def health(
    json_: Annotated[bool, typer.Option("--json", help="{\"services\": [...]} on stdout.")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Run Health.Restart for each "
                                          "service that is not ok.")] = False,
    config: ConfigOption = None,
    state: StateOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Probe each Ollama service once: status (ok, degraded, gpu-lost, down), version, loaded
    models and their GPU memory, the measured speed and the learned baseline. Exit 0 when all
    are ok, 1 otherwise."""
    from xmpvision.health.check import check_all
    from xmpvision.health.store import HealthStore

    setup_logging(verbose, False)
    loaded = get_config(config)
    with HealthStore.beside(state or default_state_path()) as store:
        results = check_all(loaded.config.models, loaded.config.health, store, restart=restart)
    if json_:
        print(json.dumps({"services": [r.to_dict() for r in results]}, ensure_ascii=False))
    else:
        for result in results:
            _print_health(result)
    if not results:
        print("xmpvision: no Ollama service is configured", file=sys.stderr)
    ok = all(r.status == "ok" for r in results)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def _print_health(result: object) -> None:
    from xmpvision.health.check import ServiceHealth

    assert isinstance(result, ServiceHealth)
    speed = f"{result.speed:.3g} tokens/s" if result.speed is not None else "-"
    baseline = f"{result.baseline:.3g} tokens/s" if result.baseline is not None else "not learned"
    print(f"{result.uri}: {result.status} (version {result.version or '-'}; speed {speed}; "
          f"baseline {baseline})")
    for model in result.models:
        where = ("not loaded" if model.size is None else
                 f"{(model.size_vram or 0) / 2**30:.1f} of {model.size / 2**30:.1f} GiB in GPU "
                 "memory")
        print(f"  {model.name}: {where}")
    if result.detail:
        print(f"  {printable(result.detail)}")
    if result.restart:
        print(f"  restart: {printable(result.restart)}")


def status(
    json_: Annotated[bool, typer.Option(
        "--json", help="One JSON object: {\"jobs\": [...], \"worker\": {\"backlog\", "
        "\"last_run\"}, \"services\": [...]}.")] = False,
    state: StateOption = None,
) -> None:
    """Whether the daemon runs, each schedule's next and last run and result (the running job's
    progress, the last job's failed photos), the worker's backlog, each service's last health
    verdict and restarts (readable while the daemon runs)."""
    from xmpvision.daemon.status import read_status

    report = read_status(state or default_state_path())
    if json_:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    if report.daemon is None:
        print("daemon: not running")
    else:
        print(f"daemon: running{f' (pid {report.daemon})' if report.daemon > 0 else ''}")
    for job in report.jobs:
        _print_job(job, report.progress.get(job.name), running=report.daemon is not None)
        # Servers whose circuit breaker opened during that job (a fallback answered for them).
        for service in (job.summary or {}).get("services") or []:
            print(f"  {printable(str(service.get('endpoint')))}: {service.get('state')} "
                  f"(down {service.get('opened')}x, {service.get('skipped')} requests not "
                  f"sent to it; {printable(str(service.get('reason') or ''))})")
    if report.backlog is not None:
        print(f"worker: backlog {report.backlog}, last pass {_when(report.worker_last_run)}")
    for service in report.services:
        print(f"ollama {service.service}: {service.status} at {_when(service.checked)} "
              f"(version {service.version or '-'}; {service.restarts} restart(s) in 24 h, "
              f"last {_when(service.last_restart)})")
    if not (report.jobs or report.services or report.backlog is not None):
        print("nothing recorded yet")


def _print_job(job: JobRecord, progress: dict[str, int] | None, *, running: bool) -> None:
    from xmpvision.daemon.status import progress_line

    summary = ""
    if job.last_result == "running":
        summary = f" ({progress_line(progress)} so far)" if progress else ""
    elif job.summary and "done" in job.summary:
        upgraded = job.summary.get("upgraded") or 0
        summary = (f" ({job.summary['done']} done, {job.summary.get('failed', 0)} failed"
                   f"{f', {upgraded} upgraded' if upgraded else ''})")
    when = f"next {_when(job.next_run)}, " if running else ""
    print(f"job {job.name}: {when}last {_when(job.last_start)}: "
          f"{job.last_result or 'never run'}{summary}")
    if job.last_result != "running":
        for failure in (job.summary or {}).get("failures") or []:
            print(f"  failed {printable(str(failure.get('path')))}: "
                  f"{printable(str(failure.get('error')))}")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def doctor(
    library: Annotated[list[Path] | None, typer.Argument(help="Library folders to check "
                                                         "(default: Daemon.Paths).",
                                                         show_default=False)] = None,
    config: ConfigOption = None,
    schedules: SchedulesOption = None,
    state: StateOption = None,
) -> None:
    """Check the set-up: config, each service and model, GPU residency, TensorFlow, the
    classifier model, the state database, sidecars writable in the library. Exit 1 when a
    check fails."""
    from xmpvision.daemon.doctor import run_checks

    checks = run_checks(config, state or default_state_path(), library or [], schedules)
    for check in checks:
        fix = f" -> {check.fix}" if check.fix and check.level != "ok" else ""
        print(f"{check.level:<4} {check.name}: {printable(check.message)}{fix}")
    raise typer.Exit(EXIT_FAILED if any(c.level == "fail" for c in checks) else EXIT_OK)
