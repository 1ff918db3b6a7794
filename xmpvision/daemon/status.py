"""`xmpvision status`: what the daemon and the health monitor recorded in the state database
(readable while the daemon runs: the database is in WAL mode)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xmpvision.errors import StateError
from xmpvision.health.store import HealthStore, JobRecord, ServiceRecord, health_path


@dataclass(frozen=True)
class StatusReport:
    jobs: list[JobRecord]
    backlog: int | None  # photos the worker's watch saw that are not processed yet
    worker_last_run: float | None
    services: list[ServiceRecord]

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": [asdict(job) for job in self.jobs],
            "worker": {"backlog": self.backlog, "last_run": self.worker_last_run},
            "services": [asdict(service) for service in self.services],
        }


def read_status(state: Path) -> StatusReport:
    if not health_path(state).exists():
        raise StateError(health_path(state), "no such file (has a run or the daemon used "
                         "this state database yet?)")
    with HealthStore.beside(state) as store:
        backlog = store.backlog()
        return StatusReport(store.jobs(), backlog[0] if backlog else None,
                            backlog[1] if backlog else None, store.services())
