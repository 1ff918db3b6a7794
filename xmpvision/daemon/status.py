"""`xmpvision status`: what the daemon and the health monitor recorded in the state database
(readable while the daemon runs: the database is in WAL mode), told as it is now: whether the
daemon runs, the running job's progress, and no next run or running job of a daemon that has
stopped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from xmpvision.daemon.presence import running_daemon
from xmpvision.errors import StateError
from xmpvision.health.store import HealthStore, JobRecord, ServiceRecord, health_path


@dataclass(frozen=True)
class StatusReport:
    daemon: int | None  # the running daemon's pid (-1: not known); None when it does not run
    jobs: list[JobRecord]
    progress: dict[str, dict[str, int]]  # the running job's counts so far, by job name
    backlog: int | None  # photos the worker's watch saw that are not processed yet
    worker_last_run: float | None
    services: list[ServiceRecord]

    def to_dict(self) -> dict[str, Any]:
        return {
            "daemon": {"running": self.daemon is not None, "pid": self.daemon},
            "jobs": [{**asdict(job), "progress": self.progress.get(job.name)}
                     for job in self.jobs],
            "worker": {"backlog": self.backlog, "last_run": self.worker_last_run},
            "services": [asdict(service) for service in self.services],
        }


def progress_line(counts: dict[str, int]) -> str:
    """A job's counts so far, for `status` and systemd's STATUS=."""
    line = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("done", "unchanged", "failed"))
    return line + (f", {counts['skipped']} skipped" if counts.get("skipped") else "")


def read_status(state: Path) -> StatusReport:
    if not health_path(state).exists():
        raise StateError(health_path(state), "no such file (has a run or the daemon used "
                         "this state database yet?)")
    pid = running_daemon(state)
    with HealthStore.beside(state) as store:
        backlog = store.backlog()
        jobs = store.jobs()
        progress = store.progress() if pid is not None else {}
        services = store.services()
    if pid is None:
        # A stopped daemon runs nothing next; a job it was running when it stopped (or was
        # killed) did not finish.
        jobs = [replace(job, next_run=None, last_result="interrupted"
                        if job.last_result == "running" else job.last_result) for job in jobs]
    return StatusReport(pid, jobs, progress, backlog[0] if backlog else None,
                        backlog[1] if backlog else None, services)
