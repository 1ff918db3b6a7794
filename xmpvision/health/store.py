"""The health monitor's and the daemon's records, in a SQLite file beside the state database
(`state.sqlite3.health`): the state database is the pipeline's, which holds a write
transaction open while photos are in flight and moves a damaged file aside, neither of which
the monitor must wait for or be caught in.

Baselines survive between runs, so a nightly run that starts on an already-degraded Ollama
still knows the healthy speed; so do the restarts, so Cooldown and MaxRestarts hold across the
scan unit, the daemon and its reloads; `xmpvision status` reads the rest while the daemon runs.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from xmpvision.errors import StateError
from xmpvision.health.budget import HOUR, Claim, Restart, refusal

logger = logging.getLogger(__name__)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS health_baseline (
        service TEXT NOT NULL, model TEXT NOT NULL, metric TEXT NOT NULL,
        speed REAL NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (service, model, metric))""",
    """CREATE TABLE IF NOT EXISTS health_gpu (
        service TEXT NOT NULL, model TEXT NOT NULL, share REAL NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (service, model))""",
    """CREATE TABLE IF NOT EXISTS health_service (
        service TEXT PRIMARY KEY, status TEXT NOT NULL, version TEXT, speed REAL,
        baseline REAL, detail TEXT, checked REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS health_events (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, service TEXT NOT NULL, event TEXT NOT NULL,
        detail TEXT)""",
    """CREATE TABLE IF NOT EXISTS health_restarts (
        id INTEGER PRIMARY KEY, service TEXT NOT NULL, began REAL NOT NULL, ended REAL,
        pid INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS daemon_jobs (
        name TEXT PRIMARY KEY, next_run REAL, last_start REAL, last_end REAL,
        last_result TEXT, summary TEXT)""",
    """CREATE TABLE IF NOT EXISTS daemon_progress (
        name TEXT PRIMARY KEY, progress TEXT NOT NULL, updated REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS daemon_worker (
        id INTEGER PRIMARY KEY CHECK (id = 1), backlog INTEGER NOT NULL,
        last_run REAL, updated REAL NOT NULL)""",
)


# Columns of daemon_jobs added since its first version.
ADDED_COLUMNS = {"signature": "TEXT"}


def health_path(state: Path) -> Path:
    return state.with_name(state.name + ".health")


@dataclass(frozen=True)
class ServiceRecord:
    service: str
    status: str
    version: str | None
    speed: float | None
    baseline: float | None
    detail: str | None
    checked: float
    restarts: int  # in the last 24 hours
    last_restart: float | None


@dataclass(frozen=True)
class JobRecord:
    name: str
    next_run: float | None
    last_start: float | None
    last_end: float | None
    last_result: str | None
    summary: dict[str, Any] | None


# How long a statement waits for another process's lock on the store.
BUSY_SECONDS = 30.0


class HealthStore:
    """Thread-safe. Writes are queued to a writer thread: a run's state database holds a write
    transaction open while its photos are in flight (a batch), and the monitor must never wait
    for it, least of all while requests wait for a restart. Reads are answered at once (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            self._prepare()
        except (OSError, sqlite3.Error) as exc:
            raise StateError(path, str(exc)) from exc
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="xmpvision-store",
                                        daemon=True)
        self._writer.start()

    def _prepare(self) -> None:
        """WAL and the tables. Another process opening the store at the same moment can make
        the switch to WAL report "locked" at once, without sqlite's busy wait: asked again
        for as long as that wait would have been."""
        deadline = time.monotonic() + BUSY_SECONDS
        delay = 0.01
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                for statement in SCHEMA:
                    self._conn.execute(statement)
                columns = {row[1] for row in
                           self._conn.execute("PRAGMA table_info(daemon_jobs)")}
                for column in ADDED_COLUMNS.keys() - columns:  # a store from an older version
                    self._conn.execute(f"ALTER TABLE daemon_jobs ADD COLUMN {column} "
                                       f"{ADDED_COLUMNS[column]}")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 0.25)

    @classmethod
    def beside(cls, state: Path) -> HealthStore:
        """The store that belongs to the state database `state`."""
        return cls(health_path(state))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None,
                               check_same_thread=False)

    def _write_loop(self) -> None:
        conn = self._connect()
        try:
            while (item := self._queue.get()) is not None:
                sql, params = item
                while True:
                    try:
                        conn.execute(sql, params)
                        break
                    except sqlite3.OperationalError as exc:
                        if "locked" not in str(exc) and "busy" not in str(exc):
                            logger.warning("state database %s: %s", self.path, exc)
                            break
                    except sqlite3.Error as exc:
                        logger.warning("state database %s: %s", self.path, exc)
                        break
                self._queue.task_done()
        finally:
            conn.close()

    def flush(self) -> None:
        """Wait until every queued write is done."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._queue.put((sql, params))

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StateError(self.path, str(exc), action="using") from exc

    # --- baselines ---------------------------------------------------------------------------

    def baselines(self, service: str) -> dict[tuple[str, str], float]:
        rows = self._run("SELECT model, metric, speed FROM health_baseline WHERE service = ?",
                         (service,))
        return {(model, metric): speed for model, metric, speed in rows}

    def save_baseline(self, service: str, model: str, metric: str, speed: float) -> None:
        self._write("INSERT OR REPLACE INTO health_baseline VALUES (?, ?, ?, ?, ?)",
                  (service, model, metric, speed, time.time()))

    def gpu_shares(self, service: str) -> dict[str, float]:
        rows = self._run("SELECT model, share FROM health_gpu WHERE service = ?", (service,))
        return dict(rows)

    def save_gpu_share(self, service: str, model: str, share: float) -> None:
        self._write("INSERT OR REPLACE INTO health_gpu VALUES (?, ?, ?, ?)",
                  (service, model, share, time.time()))

    # --- the restart budget, shared by every process using this store --------------------------

    def claim_restart(self, service: str, now: float, *, cooldown: float, max_restarts: int,
                      restart_timeout: float) -> Claim:
        """Granted (and recorded as begun) when no restart of `service` by any process holds
        it back; checked and recorded in one write transaction."""
        since = now - max(HOUR, cooldown, restart_timeout)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    rows = self._conn.execute(
                        "SELECT began, ended FROM health_restarts WHERE service = ? AND "
                        "began >= ?", (service, since)).fetchall()
                    held = refusal([Restart(b, e) for b, e in rows], now, cooldown=cooldown,
                                   max_restarts=max_restarts, restart_timeout=restart_timeout)
                    if held is None:
                        self._conn.execute("DELETE FROM health_restarts WHERE began < ?",
                                           (now - 30 * 86400,))
                        cursor = self._conn.execute(
                            "INSERT INTO health_restarts (service, began, pid) VALUES (?, ?, ?)",
                            (service, now, os.getpid()))
                        held = Claim(cursor.lastrowid)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StateError(self.path, str(exc), action="using") from exc
        return held

    def restart_ended(self, service: str, claim: int, now: float) -> None:
        self._run("UPDATE health_restarts SET ended = ? WHERE id = ? AND service = ?",
                  (now, claim, service))

    def last_restart(self, service: str) -> float | None:
        rows = self._run("SELECT MAX(began) FROM health_restarts WHERE service = ?", (service,))
        return rows[0][0] if rows else None

    # --- verdicts and events -------------------------------------------------------------------

    def save_verdict(self, service: str, status: str, *, version: str | None,
                     speed: float | None, baseline: float | None, detail: str | None) -> None:
        self._write("INSERT OR REPLACE INTO health_service VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (service, status, version, speed, baseline, detail, time.time()))

    def event(self, service: str, event: str, detail: str = "") -> None:
        self._write("INSERT INTO health_events (at, service, event, detail) VALUES (?, ?, ?, ?)",
                  (time.time(), service, event, detail))

    def events(self, service: str | None = None) -> list[tuple[float, str, str, str]]:
        if service is None:
            rows = self._run("SELECT at, service, event, detail FROM health_events ORDER BY id")
        else:
            rows = self._run("SELECT at, service, event, detail FROM health_events "
                             "WHERE service = ? ORDER BY id", (service,))
        return [(float(a), str(s), str(e), str(d or "")) for a, s, e, d in rows]

    def services(self) -> list[ServiceRecord]:
        since = time.time() - 86400
        rows = self._run(
            "SELECT s.service, s.status, s.version, s.speed, s.baseline, s.detail, s.checked, "
            "(SELECT COUNT(*) FROM health_events e WHERE e.service = s.service "
            " AND e.event = 'restart' AND e.at >= ?), "
            "(SELECT MAX(at) FROM (SELECT at FROM health_events e WHERE e.service = s.service "
            " AND e.event = 'restart' UNION ALL SELECT began FROM health_restarts r "
            " WHERE r.service = s.service)) FROM health_service s ORDER BY s.service", (since,))
        return [_current(ServiceRecord(*row)) for row in rows]

    # --- the daemon's jobs ---------------------------------------------------------------------

    def job_scheduled(self, name: str, next_run: float | None, signature: str | None) -> None:
        """The job's next run, and the schedule it was computed from (`signature`)."""
        self._write("INSERT INTO daemon_jobs (name, next_run, signature) VALUES (?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET next_run = excluded.next_run, "
                    "signature = excluded.signature", (name, next_run, signature))

    def next_runs(self) -> dict[str, tuple[float, str]]:
        """Each job's recorded next run and the schedule it belongs to (reads what was
        queued before)."""
        self.flush()
        rows = self._run("SELECT name, next_run, signature FROM daemon_jobs "
                         "WHERE next_run IS NOT NULL AND signature IS NOT NULL")
        return {name: (float(when), str(signature)) for name, when, signature in rows}

    def job_progress(self, name: str, progress: dict[str, Any] | None) -> None:
        """The running job's counts so far; None when it ended."""
        if progress is None:
            self._write("DELETE FROM daemon_progress WHERE name = ?", (name,))
        else:
            self._write("INSERT OR REPLACE INTO daemon_progress VALUES (?, ?, ?)",
                        (name, json.dumps(progress), time.time()))

    def progress(self) -> dict[str, dict[str, Any]]:
        rows = self._run("SELECT name, progress FROM daemon_progress")
        return {name: json.loads(text) for name, text in rows}

    def job_started(self, name: str) -> None:
        self._write("INSERT INTO daemon_jobs (name, last_start, last_result) VALUES (?, ?, ?) "
                  "ON CONFLICT(name) DO UPDATE SET last_start = excluded.last_start, "
                  "last_result = 'running'", (name, time.time(), "running"))

    def job_finished(self, name: str, result: str, summary: dict[str, Any]) -> None:
        self._write("UPDATE daemon_jobs SET last_end = ?, last_result = ?, summary = ? "
                  "WHERE name = ?", (time.time(), result, json.dumps(summary), name))

    def forget_jobs_except(self, names: set[str]) -> None:
        for (name,) in self._run("SELECT name FROM daemon_jobs"):
            if name not in names:
                self._write("DELETE FROM daemon_jobs WHERE name = ?", (name,))
                self._write("DELETE FROM daemon_progress WHERE name = ?", (name,))

    def jobs(self) -> list[JobRecord]:
        rows = self._run("SELECT name, next_run, last_start, last_end, last_result, summary "
                         "FROM daemon_jobs ORDER BY name")
        return [JobRecord(n, nr, ls, le, lr, json.loads(s) if s else None)
                for n, nr, ls, le, lr, s in rows]

    def save_backlog(self, backlog: int, *, ran: bool) -> None:
        now = time.time()
        self._write("INSERT INTO daemon_worker (id, backlog, last_run, updated) "
                    "VALUES (1, ?, ?, ?) "
                  "ON CONFLICT(id) DO UPDATE SET backlog = excluded.backlog, "
                  "last_run = COALESCE(excluded.last_run, daemon_worker.last_run), "
                  "updated = excluded.updated", (backlog, now if ran else None, now))

    def backlog(self) -> tuple[int, float | None] | None:
        rows = self._run("SELECT backlog, last_run FROM daemon_worker WHERE id = 1")
        return (int(rows[0][0]), rows[0][1]) if rows else None


def _current(record: ServiceRecord) -> ServiceRecord:
    """A verdict checked before the last restart says nothing about the restarted service."""
    if record.last_restart is None or record.checked >= record.last_restart:
        return record
    return replace(record, status="restarted", speed=None, baseline=None,
                   detail="restarted; not checked since", checked=record.last_restart)
