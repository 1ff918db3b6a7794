"""`xmpvision daemon`: the scheduled jobs and the newly-indexed worker, one at a time, with the
Ollama health monitor running throughout.

Jobs never overlap on one state database: one executor thread, max_instances 1, coalescing
and a misfire grace, and a lock the worker and the scheduled jobs take turns on; a second daemon
on the same state database refuses to start (exit 2). The engines (composed as every run
composes them, chain/compose.py) are kept across jobs; the failures they remember expire before
each job. SIGTERM/SIGINT: the photos in flight finish and are recorded, then exit 0; a second
one aborts at once (exit 130). SIGHUP: vision.yml and the schedules are read again; a broken
new file is reported and the old configuration kept.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from xmpvision import jobs
from xmpvision.chain.analyzer import SCAN_CONTEXTS
from xmpvision.chain.compose import Engines
from xmpvision.config import LoadedConfig, load_config
from xmpvision.config.defaults import DAEMON_SETTLE, DEFAULT_MISFIRE_GRACE
from xmpvision.config.models import SUPPORTED_TYPES, VisionConfig
from xmpvision.config.schedules import ScheduleJob, Schedules, find_schedule_dir, load_schedules
from xmpvision.daemon.notify import notify, watchdog_period
from xmpvision.daemon.presence import DaemonLock
from xmpvision.daemon.schedules import describe, trigger_for, window_end
from xmpvision.daemon.status import progress_line
from xmpvision.daemon.watch import PhotoWatch
from xmpvision.errors import EXIT_INTERRUPTED, ConfigError, UsageError, XmpvisionError
from xmpvision.health.monitor import HealthMonitor
from xmpvision.health.store import HealthStore
from xmpvision.pipeline import RunOptions, RunResult
from xmpvision.report import PhotoReport
from xmpvision.runmodes import RunMode
from xmpvision.state import default_state_path

log = logging.getLogger(__name__)

WORKER = "newly-indexed"  # the worker's job name (schedule names cannot clash: no such file)
# The failed photos of a job that `status` lists (the log has them all).
MAX_FAILURES = 50
# Seconds between two progress records of a running job (status, systemd's STATUS=).
PROGRESS_EVERY = 1.0
# How long the main loop sleeps at most between two looks at its flags.
TICK = 1.0


class LogReporter:
    """A job's photos as log lines (failures always, the rest at debug level), its progress
    for `status` and systemd's STATUS=, and its failed photos."""

    def __init__(self, job: str, store: HealthStore | None = None) -> None:
        self.job = job
        self._store = store
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.failures: list[dict[str, str]] = []  # the first MAX_FAILURES
        self._shown = 0.0

    def photo(self, report: PhotoReport) -> None:
        if report.status == "failed":
            log.warning("%s: failed %s: %s", self.job, report.path, report.error)
        else:
            log.debug("%s: %s %s", self.job, report.status, report.path)
        with self._lock:
            self.counts[report.status] = self.counts.get(report.status, 0) + 1
            if report.status == "failed" and len(self.failures) < MAX_FAILURES:
                self.failures.append({"path": os.fsdecode(report.path),
                                      "error": report.error or ""})
        self._show()

    def _show(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._shown < PROGRESS_EVERY:
                return
            self._shown = now
            counts = dict(self.counts)
        notify(f"STATUS=running {self.job}: {progress_line(counts)}")
        if self._store is not None:
            self._store.job_progress(self.job, counts)

    def notice(self, message: str) -> None:
        log.warning("%s: %s", self.job, message)

    def unchanged(self, path: str) -> None:
        with self._lock:
            self.counts["unchanged"] = self.counts.get("unchanged", 0) + 1
        self._show()


def _signature(schedule: ScheduleJob) -> str:
    """What a schedule's run times are computed from: a next run recorded for the same
    signature is kept across reloads and restarts."""
    return json.dumps([schedule.cron, schedule.every, schedule.jitter, schedule.window])


def _kept(record: tuple[float, str] | None, signature: str, now: datetime, *,
          interval: bool) -> datetime | None:
    """The recorded next run to keep (None: the trigger's own). One that passed while the
    daemon was stopped runs now, as a missed run coalesced: an interval's always, a cron
    run's within the misfire grace."""
    if record is None or record[1] != signature:
        return None
    when = datetime.fromtimestamp(record[0]).astimezone()
    if when > now:
        return when
    if interval or (now - when).total_seconds() <= DEFAULT_MISFIRE_GRACE:
        return now
    return None


@dataclass(frozen=True)
class Setup:
    """What the daemon was started with (the files are read again on SIGHUP)."""

    config: Path | None
    schedules: Path | None
    state: Path


@dataclass
class _Runtime:
    """Everything one configuration runs with; replaced whole on a reload."""

    loaded: LoadedConfig
    schedules: Schedules
    monitor: HealthMonitor
    engines: Engines  # kept across jobs, watched by the monitor

    @property
    def config(self) -> VisionConfig:
        return self.loaded.config

    def close(self) -> None:
        self.engines.close()
        self.monitor.close()


class Daemon:
    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._presence = DaemonLock(setup.state)  # first: a second daemon refuses at once
        try:
            self._init()
        except BaseException:
            self._presence.close()
            raise

    def _init(self) -> None:
        setup = self.setup
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._tick = threading.Event()
        self._turn = threading.Lock()  # the worker and the scheduled jobs take turns
        self._job_stop: threading.Event | None = None  # the running job's stop
        self._worker_busy = threading.Event()
        self._worker_again = threading.Event()  # woken while a pass ran: run another
        self._store = HealthStore.beside(setup.state)
        self._signatures: dict[str, str] = {}  # job name -> what its run times come from
        self._missing: set[Path] = set()  # roots found missing (warned once)
        self._runtime = self._load()
        self._watch: PhotoWatch | None = None
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(DEFAULT_MISFIRE_GRACE)},
        )

    # --- configuration -------------------------------------------------------------------------

    def _load(self) -> _Runtime:
        """Read vision.yml and the schedules; raises ConfigError (nothing changed then)."""
        loaded = load_config(self.setup.config)
        for warning in loaded.warnings:
            log.warning("%s", warning)
        schedules = load_schedules(find_schedule_dir(self.setup.schedules))
        config = loaded.config
        if not schedules.jobs and not config.daemon.paths:
            raise UsageError("nothing to do: no schedule files (see --schedules) and no "
                             "Daemon.Paths in vision.yml")
        monitor = HealthMonitor(config.models, config.health, self._store)
        engines = Engines(config.thresholds, monitor)
        return _Runtime(loaded, schedules, monitor, engines)

    def _plan(self, *, starting: bool = False) -> None:
        """(Re)create every scheduler job from the current runtime. Next runs recorded for an
        unchanged schedule are kept (a reload or a restart draws no new random time and
        restarts no `Every` countdown)."""
        runtime = self._runtime
        recorded = self._store.next_runs()
        now = datetime.now().astimezone()
        for job in self._scheduler.get_jobs():
            job.remove()
        self._signatures = {}
        for schedule in runtime.schedules.jobs:
            signature = self._signatures[schedule.name] = _signature(schedule)
            first = _kept(recorded.get(schedule.name), signature, now,
                          interval=schedule.every is not None)
            self._scheduler.add_job(self._scheduled, trigger_for(schedule), args=[schedule],
                                    id=schedule.name, name=schedule.name,
                                    **({} if first is None else {"next_run_time": first}))
            log.info("schedule %s: %s, %s", schedule.name, describe(schedule),
                     ", ".join(map(str, schedule.paths)))
        daemon = runtime.config.daemon
        if daemon.paths:
            # A pass when the daemon starts; after a reload, the countdown goes on.
            signature = self._signatures[WORKER] = json.dumps(daemon.worker.every)
            first = None if starting else _kept(recorded.get(WORKER), signature, now,
                                                interval=True)
            self._scheduler.add_job(self._worker, IntervalTrigger(seconds=daemon.worker.every),
                                    id=WORKER, name=WORKER, next_run_time=first or now)
            log.info("worker: %s every %gs%s", ", ".join(map(str, daemon.paths)),
                     daemon.worker.every,
                     f", watching (debounce {daemon.worker.debounce:g}s)"
                     if daemon.worker.watch else "")
        self._rewatch()
        names = {s.name for s in runtime.schedules.jobs} | ({WORKER} if daemon.paths else set())
        self._store.forget_jobs_except(names)
        self._record_next_runs()

    def _rewatch(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        daemon = self._runtime.config.daemon
        if daemon.paths and daemon.worker.watch:
            self._watch = PhotoWatch(daemon.paths, daemon.worker.debounce, self._wake_worker)
            self._watch.start()

    def _record_next_runs(self) -> None:
        if self._stop.is_set():
            return
        for job in self._scheduler.get_jobs():
            when = job.next_run_time
            self._store.job_scheduled(job.id, when.timestamp() if when else None,
                                      self._signatures.get(job.id))

    def _do_reload(self) -> None:
        try:
            runtime = self._load()
        except XmpvisionError as exc:
            problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            for problem in problems:
                log.error("reload: %s", problem)
            log.error("reload failed: keeping the configuration in use")
            return
        old, self._runtime = self._runtime, runtime
        self._plan()
        runtime.monitor.start()
        # The old engines may be in use by the running job: closed once it is done.
        threading.Thread(target=self._retire, args=(old,), name="xmpvision-retire",
                         daemon=True).start()
        log.info("reloaded %s and %d schedule file(s)", runtime.loaded.path or "the built-in "
                 "configuration", len(runtime.schedules.files))

    def _retire(self, old: _Runtime) -> None:
        with self._turn:
            old.close()

    # --- running -------------------------------------------------------------------------------

    def run(self) -> int:
        with _signals(self._on_signal):
            self._scheduler.start()
            self._plan(starting=True)
            self._runtime.monitor.start()
            notify("READY=1", "STATUS=waiting for the next job")
            log.info("daemon ready (state %s)", self.setup.state)
            period = watchdog_period()
            while not self._stop.is_set():
                self._tick.wait(min(TICK, period) if period else TICK)
                self._tick.clear()
                if period:
                    notify("WATCHDOG=1")
                if self._reload.is_set() and not self._stop.is_set():
                    self._reload.clear()
                    self._do_reload()
            notify("STOPPING=1", "STATUS=finishing the photos in flight")
            log.info("stopping: finishing the photos in flight")
            job_stop = self._job_stop
            if job_stop is not None:
                job_stop.set()
            if self._watch is not None:
                self._watch.stop()
            with self._turn:  # the running job has finished its photos in flight
                # Not shutdown(wait=True): it holds the scheduler's lock while it waits, and
                # a job that is finishing asks the scheduler for its next run time.
                self._scheduler.shutdown(wait=False)
            self._runtime.close()
            self._store.close()
            self._presence.close()
            log.info("daemon stopped")
        return 0

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        elif self._stop.is_set():
            # A second SIGTERM or Ctrl-C: the user will not wait for the photos in flight (a
            # request may hang on a wedged Ollama until its read timeout). What is recorded
            # stays (SQLite commits are atomic); the photos in flight are asked again next run.
            log.warning("%s again: aborting now; the photos in flight are done next run",
                        signal.Signals(signum).name)
            notify("STATUS=aborted")
            logging.shutdown()
            os._exit(EXIT_INTERRUPTED)
        else:
            self._stop.set()
            job_stop = self._job_stop
            if job_stop is not None:
                job_stop.set()  # at once: the photos in flight finish, no new one starts
        self._tick.set()

    def _wake_worker(self) -> None:
        if self._worker_busy.is_set():
            self._worker_again.set()
            return
        job = self._scheduler.get_job(WORKER)
        if job is not None and not self._stop.is_set():
            log.info("worker: new photos seen; running now")
            if self._watch is not None:
                self._store.save_backlog(self._watch.pending, ran=False)
            job.modify(next_run_time=datetime.now().astimezone())

    def _scheduled(self, schedule: ScheduleJob) -> None:
        window = schedule.time_window
        end = None
        if window is not None:
            end = window_end(window, datetime.now())
            if end is None:
                log.info("%s: outside its window %s; skipped", schedule.name, schedule.window)
                self._store.job_finished(schedule.name, "skipped", {"reason": "outside window"})
                self._record_next_runs()
                return
        self._run(schedule.name, schedule.paths, schedule.models, (RunMode.ON_SCHEDULE,),
                  RunOptions(force=schedule.force), until=end)

    def _worker(self) -> None:
        self._worker_busy.set()
        try:
            while not self._stop.is_set():
                self._worker_again.clear()
                watch = self._watch
                if watch is not None:
                    watch.taken()
                roots = self._runtime.config.daemon.paths
                result = self._run(WORKER, roots, SUPPORTED_TYPES, SCAN_CONTEXTS, RunOptions())
                left = watch.pending if watch is not None else 0
                self._store.save_backlog(left, ran=result is not None)
                if not self._worker_again.is_set():
                    break  # else photos arrived during the pass: another one now
        finally:
            self._worker_busy.clear()

    def _run(self, name: str, roots: Sequence[Path], types: Sequence[str],
             contexts: Sequence[RunMode], options: RunOptions, *,
             until: datetime | None = None) -> RunResult | None:
        with self._turn:
            if self._stop.is_set():
                return None
            roots, missing = self._present(name, roots)
            if not roots:
                log.warning("%s: skipped: none of its folders is there", name)
                self._store.job_finished(name, "skipped", {
                    "reason": "no folder is there", "missing": [str(r) for r in missing]})
                self._record_next_runs()
                return None
            runtime = self._runtime
            stop = threading.Event()
            self._job_stop = stop
            timer = None
            if until is not None:
                delay = (until - datetime.now()).total_seconds()
                timer = threading.Timer(max(0.0, delay), stop.set)
                timer.daemon = True
                timer.start()
            runtime.engines.expire_failures()
            self._store.job_started(name)
            self._store.job_progress(name, {})
            reporter = LogReporter(name, self._store)
            notify(f"STATUS=running {name}")
            log.info("%s: started on %s", name, ", ".join(map(str, roots)))
            try:
                result = jobs.run_models(
                    runtime.config, roots, types=types, contexts=contexts,
                    options=_with_naming(options, runtime.config), reporter=reporter,
                    state_path=self.setup.state, stop=stop, engines=runtime.engines)
            except XmpvisionError as exc:
                log.error("%s: %s", name, exc)
                self._store.job_finished(name, "error", {"error": str(exc)})
                return None
            except Exception as exc:  # a bug costs this job, not the daemon
                log.error("%s: internal error: %s: %s (run with -vv for details)", name,
                          type(exc).__name__, exc)
                log.debug("%s: internal error", name, exc_info=True)
                self._store.job_finished(name, "error", {"error": f"internal error: {exc!r}"})
                return None
            finally:
                if timer is not None:
                    timer.cancel()
                self._job_stop = None
                self._store.job_progress(name, None)
                notify("STATUS=waiting for the next job")
                self._record_next_runs()
            outcome = _outcome(result, self._stop)
            counts = result.summary.counts
            log.info("%s: %s: %d done, %d unchanged, %d skipped, %d failed in %.1f s", name,
                     outcome, counts["done"], counts["unchanged"], counts["skipped"],
                     counts["failed"], result.summary.seconds)
            summary: dict[str, Any] = result.summary.to_dict()["summary"]
            if result.unusable:
                summary["errors"] = result.unusable
            if reporter.failures:
                summary["failures"] = reporter.failures
            if missing:
                summary["missing"] = [str(r) for r in missing]
            self._store.job_finished(name, outcome, summary)
            return result


    def _present(self, name: str, roots: Sequence[Path]) -> tuple[list[Path], list[Path]]:
        """(the roots that are there, those that are not): a share not mounted yet costs its
        own folders, not the job's others; said once until it is back."""
        present: list[Path] = []
        missing: list[Path] = []
        for root in roots:
            try:
                there = root.exists()
            except OSError:
                there = False
            (present if there else missing).append(root)
            if there and root in self._missing:
                self._missing.discard(root)
                log.info("%s: %s is there again", name, root)
            elif not there and root not in self._missing:
                self._missing.add(root)
                log.warning("%s: %s: no such folder (a share not mounted?); skipped until it "
                            "is there, the job's other folders are processed", name, root)
        return present, missing


def _outcome(result: RunResult, daemon_stop: threading.Event) -> str:
    if result.interrupted:
        return "interrupted" if daemon_stop.is_set() else "window ended"
    return "ok" if result.ok else "failed"


def _with_naming(options: RunOptions, config: VisionConfig) -> RunOptions:
    # A photo being copied in may pause longer than Debounce: waited for, not failed.
    settle = max(DAEMON_SETTLE, 2 * config.daemon.worker.debounce)
    return RunOptions(force=options.force, naming=config.sidecar.naming, settle=settle)


@contextmanager
def _signals(handler: Any) -> Iterator[None]:
    def on(signum: int, frame: FrameType | None) -> None:
        handler(signum)

    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_daemon(config: Path | None, schedules: Path | None, state: Path | None) -> int:
    """Start, run until SIGTERM/SIGINT, return the exit code. Raises ConfigError/UsageError
    before anything runs."""
    daemon = Daemon(Setup(config, schedules, state or default_state_path()))
    return daemon.run()
