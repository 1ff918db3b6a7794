"""The scan pipeline: discover -> plan (state) -> prepare + ask the models (workers) -> write.

One coordinator thread owns the state database and the sidecar writes (pyexiv2-style
libraries and SQLite both want a single writer). It streams photos from discovery, asks the
state what each one needs, and hands the work to a thread pool sized so that every Ollama
service has `Service.Parallel` requests in flight (under `auto`, the most it may try) while the
next images are being decoded.
The number of photos in flight is bounded, so memory does not grow with the library.

A photo that failed for a reason of its own (empty, truncated, not an image) is skipped while
it is unchanged, unless `retry_failed`; a failure of a model or a service is retried every run.
After a complete walk the state forgets the photos that were deleted under the roots. What
`Parallel: auto` found on each service the run asked is kept in the state too (for `vision ls`
and `doctor`), unless it is a dry run. When the state database fails (disk full, damaged),
the photos in flight are finished and the run ends with the StateError.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from xmpvision import modeltypes
from xmpvision.chain.analyzer import Analyzer, with_source
from xmpvision.chain.pool import Stopped
from xmpvision.chain.resolve import describe_model
from xmpvision.config.defaults import (
    DEFAULT_FALLBACK_UPGRADE,
    DEFAULT_NEW_KEYWORDS,
    NewKeywords,
)
from xmpvision.discover import DiscoveryError, Photo, discover
from xmpvision.errors import CircuitOpen, ImageError, SidecarError, StateError
from xmpvision.prepare.images import PhotoImage
from xmpvision.report import PhotoReport, Status, Summary
from xmpvision.results import GeneratedText, PhotoResult
from xmpvision.sidecar import SidecarChange, update_sidecar
from xmpvision.sidecar.model import named_people
from xmpvision.sidecar.moves import follow_move
from xmpvision.sidecar.paths import Naming
from xmpvision.sources import DEFAULT_SOURCE
from xmpvision.state import FallbackAnswers, FileStatus, FoundParallel, Plan, StateDB
from xmpvision.text.vocabulary import Vocabulary

log = logging.getLogger(__name__)

# Workers that decode the next photos while the others wait on the services: as many as the
# requests in flight (with one request per photo, as `Type: generate` asks, each answer needs
# the next photo decoded at once), at least PREPARE_AHEAD, at most PREPARE_AHEAD_MOST.
PREPARE_AHEAD = 2
PREPARE_AHEAD_MOST = 8
# Photos decoded at once per CPU: a worker's first photo is not held up by all the others
# decoding beside it, and reading from a slow share still overlaps.
DECODES_PER_CPU = 2
# How often a coordinator waiting for a photo looks at the stop event (seconds).
STOP_CHECK = 0.1


@dataclass(frozen=True)
class RunOptions:
    force: bool = False
    dry_run: bool = False
    source: str | None = None  # --source: attribute every value to this source
    count: int | None = None  # --count: process at most this many photos
    jobs: int | None = None  # worker threads; default from the services' Parallel
    follow_symlinks: bool = False
    naming: Naming = "full"
    keyword_parent: str | None = None  # Sidecar.KeywordParent
    retry_failed: bool = False  # --retry-failed: decode again files that failed on their own
    # Fallback.Upgrade: redo what a fallback answered while a better model was down, once that
    # model can be asked again.
    upgrade: bool = DEFAULT_FALLBACK_UPGRADE
    # Keywords: the owner's vocabulary our keywords are folded onto (None: as answered), and
    # what happens to the others. With `Vocabulary: library` it grows with what the run reads.
    vocabulary: Vocabulary | None = None
    new_keywords: NewKeywords = DEFAULT_NEW_KEYWORDS
    # A photo that does not decode and was changed less than this many seconds ago is taken
    # as still being copied in (the daemon: a copy may pause longer than Debounce).
    settle: float = 0.0


@dataclass
class RunResult:
    summary: Summary
    interrupted: bool
    unusable: dict[str, str] = field(default_factory=dict)  # types no model could serve

    @property
    def ok(self) -> bool:
        return not (self.summary.failed or self.unusable)


@dataclass(frozen=True, slots=True)
class _Job:
    photo: Photo
    todo: tuple[str, ...]
    regenerate: bool  # the photo changed since its values were generated
    bad: bool  # it failed for a reason of its own before and is tried again (retry_failed)
    # type -> the fallback model that answered it: only better models are asked, and a type
    # none of them answers keeps its values (None: an ordinary job)
    upgrade: dict[str, str] | None = None
    # The photo already being decoded (the run's first, decoded while the models are checked)
    opened: Future[PhotoImage] | None = None


class Reporter(Protocol):
    """Where the pipeline tells what happened to each photo (the CLI renders it)."""

    def photo(self, report: PhotoReport) -> None: ...

    def notice(self, message: str) -> None:
        """Something that concerns the whole run (a model that cannot run, and the fix), said
        once before the photos it affects."""

    def unchanged(self, path: str) -> None:
        """A photo with nothing to do: the hot path of a rescan, so no report object."""


Finished = PhotoResult | ImageError  # what a photo's work ended with
Outcome = Finished | Stopped


class _InternalError(ImageError):
    """A bug met while working on a photo: the photo fails, the file is not held to blame."""


def _file_at_fault(error: ImageError) -> bool:
    """Whether the file's own bytes failed (empty, truncated, not an image, too large, no
    usable preview), so that decoding it again unchanged is pointless. Not a bug, nor an
    operating-system error (permission denied, vanished, an I/O error of a share): those can
    go away without the file changing."""
    if isinstance(error, _InternalError):
        return False
    cause = error.__cause__
    return not (isinstance(cause, OSError) and cause.errno is not None)


def _skip_reason(bad: str) -> str:
    return f"not retried: {bad}; unchanged since it failed (--retry-failed to try again)"


class Pipeline:
    """Runs an Analyzer over a photo library and writes what it finds into sidecars."""

    def __init__(
        self,
        analyzer: Analyzer,
        state: StateDB,
        options: RunOptions,
        report: Reporter,
        stop: threading.Event | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.state = state
        self.options = options
        self.report = report
        self.stop = stop or threading.Event()
        self.types = tuple(analyzer.types)
        self.summary = Summary()
        slots = analyzer.slot_count()
        ahead = min(max(PREPARE_AHEAD, slots), PREPARE_AHEAD_MOST)
        self.workers = options.jobs or slots + ahead
        self._max_in_flight = self.workers + PREPARE_AHEAD
        self._decoding = threading.Semaphore(DECODES_PER_CPU * (os.cpu_count() or 1))
        self._first_decoded = threading.Event()
        self._checked = False
        self.unusable: dict[str, str] = {}  # type -> why no model of it can run
        # Types whose only models are implicit built-in defaults that cannot run here: left
        # out of the run (said once), photos are not failed for what nobody asked.
        self.left_out: dict[str, str] = {}
        self._state_error: StateError | None = None  # the first, while photos finish
        self._discovery_errors: list[str] = []  # paths: no record is pruned around them
        self._fallback_answers: FallbackAnswers | None = None

    def run(self, roots: Iterable[str | os.PathLike[str]]) -> RunResult:
        roots = list(roots)  # walked, then pruned
        started = time.monotonic()
        pending: dict[Future[Outcome], _Job] = {}
        self.state.start_walk()
        self._recall_parallel()
        if self.options.upgrade and not self.options.force:
            self._fallback_answers = self.state.fallback_answers()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="xmpvision") as pool:
            try:
                complete = self._walk(roots, pool, pending)
            finally:
                # Ctrl-C, SIGTERM or an error: finish and record what is already in flight;
                # photos queued behind them are not started (the next run does them).
                if self.stop.is_set():
                    for future in list(pending):
                        if future.cancel():
                            del pending[future]
                    # Photos waiting for a service slot are not sent either.
                    self.analyzer.slots.stop()
                while pending:
                    self._collect(pending, block=True, draining=True)
                try:
                    self.state.flush()
                except StateError as exc:
                    self._state_error = self._state_error or exc
        if self._state_error is not None:
            raise self._state_error
        measured = self.analyzer.slots.measured()
        self._keep_parallel(measured)
        if complete and not self.stop.is_set() and not self.options.dry_run:
            # Every photo under the roots was planned, so moves are recognised already.
            self.state.prune(roots, skip=self._discovery_errors)
        self.summary.seconds = time.monotonic() - started
        self.summary.services = self.analyzer.breakers.reports()
        self.summary.parallel = {key: found for key, (found, _most) in measured.items()}
        for service, found in self.summary.parallel.items():
            log.info("%s: Parallel auto found %d request(s) at once", service, found)
        return RunResult(self.summary, interrupted=self.stop.is_set(),
                         unusable=dict(self.unusable))

    def _recall_parallel(self) -> None:
        """What `Parallel: auto` found on each service in an earlier run: where it goes once
        the first answer begins. Only a hint: an unreadable record is a warning."""
        try:
            found = self.state.parallel_found()
        except StateError as exc:
            log.warning("Parallel: auto's earlier finding not read: %s", exc)
            return
        self.analyzer.slots.recall({key: f.found for key, f in found.items()})

    def _keep_parallel(self, measured: dict[str, tuple[int, int]]) -> None:
        """Record, for `vision ls` and `doctor`, what `Parallel: auto` found on each service
        this run got answers from (`measured`: ServiceSlots.measured()); a service it did not
        ask keeps what an earlier run found. Only a hint for them: a failure to record it is
        said, not the run's failure. A dry run records nothing."""
        if self.options.dry_run:
            return
        now = time.time()
        found = {key: FoundParallel(limit, most, now) for key, (limit, most) in measured.items()}
        if not found:
            return
        try:
            self.state.keep_parallel(found)
        except StateError as exc:
            log.warning("Parallel: auto's finding not kept: %s", exc)

    def _walk(self, roots: list[str | os.PathLike[str]], pool: ThreadPoolExecutor,
              pending: dict[Future[Outcome], _Job]) -> bool:
        """Plan every photo under `roots` and submit the work; True if none was left out."""
        # An unchanged photo is the per-file hot loop of a rescan (bench/bench_rescan.py): what
        # it uses is looked up once here, and it is counted in a local, not per photo in
        # self.summary (added in the finally clause).
        stopped = self.stop.is_set
        plan_of = self.state.plan
        types = self.types
        force = self.options.force
        count = self.options.count
        report_unchanged = self.report.unchanged
        moved = FileStatus.MOVED
        upgrades = self._fallback_answers or None  # asked once, not per photo
        unchanged = 0
        submitted = 0
        try:
            for item in discover(roots, follow_symlinks=self.options.follow_symlinks):
                if stopped():
                    return False
                if isinstance(item, DiscoveryError):
                    self._discovery_errors.append(item.path)
                    # A symlink loop is said (skipped), not a failure of the run.
                    status: Status = "skipped" if item.loop else "failed"
                    self._emit(PhotoReport(Path(item.path), status, error=str(item)))
                    continue
                plan = plan_of(item, types, force=force)
                todo = plan.todo
                if plan.status is moved:
                    if not self._follow_move(item):
                        todo = types  # its sidecar could not follow it: redo it
                elif len(todo) < len(types) and item.name not in (item.sidecars or ()) and (
                        not item.has_sidecar()):
                    # Done (for some types at least), by the state, but its sidecar is gone
                    # (deleted, or restored from an old backup without it): the photo is done
                    # again. A type left out of every run stays in `todo`, hence "some".
                    todo = types
                upgrade = None
                if not todo:
                    if not (upgrades and (upgrade := self._upgradable(item, upgrades))):
                        unchanged += 1
                        report_unchanged(item.path)
                        continue
                    todo = tuple(upgrade)
                if count is not None and submitted >= count:
                    return False
                submitted += self._submit(item, plan, todo, pool, pending, upgrade)
            return True
        finally:
            self.summary.counts["unchanged"] += unchanged

    def _upgradable(self, photo: Photo, upgrades: FallbackAnswers) -> dict[str, str] | None:
        """The types of an unchanged photo that a fallback answered and a better model may
        answer now (its server is not known to be down)."""
        answered = upgrades.get(photo)
        if answered is None:
            return None
        ready = {t: model for t, model in answered.items()
                 if t in self.types and self.analyzer.upgradable(t, model)}
        return ready or None

    def _submit(self, photo: Photo, plan: Plan, todo: tuple[str, ...], pool: ThreadPoolExecutor,
                pending: dict[Future[Outcome], _Job], upgrade: dict[str, str] | None = None,
                ) -> int:
        """Hand a photo that needs work to the workers; 1 if it counts toward --count."""
        if plan.bad is not None and not self.options.retry_failed:
            # Decoding it again would fail again: said, not counted as a failure.
            self._emit(PhotoReport(Path(photo.path), "skipped", error=_skip_reason(plan.bad)))
            return 0
        opened = None
        if not self._checked:
            # The first photo's request waits for its decode and for the check: both at once.
            opened = pool.submit(self._open, photo, todo, first=True)
            # Once, when the first photo needs work: a missing model or a dead service is one
            # clear error, not one request (or retry) per photo.
            self._check_models()
        if self.left_out:
            todo = tuple(t for t in todo if t not in self.left_out)
            if not todo:
                self.summary.add("unchanged")
                self.report.unchanged(photo.path)
                return 0
        if upgrade is None and self.unusable and all(
                t in self.unusable and not self.analyzer.may_answer(t) for t in todo):
            # No model can serve this photo: it fails (and is retried next run) without being
            # decoded. A photo that also needs a usable type is analysed; its broken type then
            # fails at once (EnginePool remembers). A type whose server was down at the start
            # is asked again once its breaker lets a probe through.
            error = "; ".join(f"{t}: {self.unusable[t]}" for t in todo)
            self._mark_failed(photo, todo, error)
            self._emit(PhotoReport(Path(photo.path), "failed", error=error))
            return 1
        while len(pending) >= self._max_in_flight:
            self._collect(pending, block=True)
        # A photo whose pixels changed gets fresh values in place of our old ones, as --force
        # would (values the user wrote still win).
        job = _Job(photo, todo, regenerate=plan.status is FileStatus.CHANGED,
                   bad=plan.bad is not None, upgrade=upgrade, opened=opened)
        pending[pool.submit(self._work, job)] = job
        self._collect(pending, block=False)
        return 1

    def _check_models(self) -> None:
        """Say once which models cannot run, why, and how to fix it; record the types no
        model can serve. They stay in `types`: each photo that needs one is reported failed
        with a short reason, answered at once from the engine pool's memory of the broken
        models."""
        self._checked = True
        said: set[str] = set()
        checks = {t: self.analyzer.check_chain(t) for t in self.types}
        implicit = [t for t, check in checks.items() if check.ready is None and check.failures
                    and all(m.implicit for m, _ in check.failures)]
        if len(implicit) < len(self.types):
            # Unless nothing would be left to run: then the run fails as it would anyway.
            for model_type in implicit:
                model, error = checks[model_type].failures[0]
                self.left_out[model_type] = error.with_hint()
                self.report.notice(
                    f"{model_type} left out of this run: the built-in {model_type} model "
                    f"{describe_model(model)} cannot run here: {error.with_hint()} (the config "
                    f"has no {model_type} model of its own)")
        for model_type, check in checks.items():
            if model_type in self.left_out:
                continue
            for model, error in check.failures:
                # A breaker that opened during an earlier model's check: its server's failure
                # was said there.
                text = ("its server is down (said above)" if isinstance(error, CircuitOpen)
                        else error.with_hint())
                if text in said and not isinstance(error, CircuitOpen):
                    continue  # one service down is one line, not one per model
                said.add(text)
                fallback = (f"; {model_type} falls back to {describe_model(check.ready)}"
                            if check.ready is not None else "")
                self.report.notice(f"{model_type} model {describe_model(model)} cannot run: "
                                   f"{text}{fallback}")
            for model, problem in check.broken_fallbacks:
                self.report.notice(f"{model_type} fallback {describe_model(model)} cannot run "
                                   f"if the models before it fail: {problem}")
            if check.ready is None:
                self.unusable[model_type] = check.summary(model_type)

    def _follow_move(self, photo: Photo) -> bool:
        """A photo renamed or moved without its sidecar (`mv`): move the sidecar along. False
        when the photo has no sidecar afterwards and must be redone."""
        old = self.state.moved_from(photo)
        if old is None or self.options.dry_run:
            return True
        return follow_move(Path(old), Path(photo.path), self.options.naming)

    # -- workers ---------------------------------------------------------------------------

    def _open(self, photo: Photo, todo: tuple[str, ...], *, first: bool = False) -> PhotoImage:
        """The photo, decoded for the first model of each type's chain: before its request
        queues for a service slot, so that a slot is not spent decoding."""
        image = PhotoImage(Path(photo.path), vocabulary=self.options.vocabulary,
                           people=named_people)
        if not first:
            # The first photo's decode has the CPUs to itself: its request is the one that
            # meets the services (Parallel auto lets others go once its answer begins).
            self._first_decoded.wait()
        try:
            with self._decoding:
                self.analyzer.prefetch(image, todo)
        except BaseException:
            image.close()
            raise
        finally:
            if first:
                self._first_decoded.set()
        return image

    def _work(self, job: _Job) -> Outcome:
        try:
            opened = job.opened
            with (self._open(job.photo, job.todo) if opened is None
                  else opened.result()) as image:
                if job.upgrade is not None:
                    return self.analyzer.upgrade(image, job.upgrade)
                return self.analyzer.analyze(image, job.todo)
        except (ImageError, Stopped) as exc:
            return exc

    # -- the single writer -----------------------------------------------------------------

    def _collect(self, pending: dict[Future[Outcome], _Job], *, block: bool,
                 draining: bool = False) -> None:
        """Record and report the finished photos. A StateError is raised once the finished
        ones are all handled (their sidecars are written); while `draining`, it is kept for
        the end of the run."""
        if not pending:
            return
        done, _ = wait(list(pending), timeout=STOP_CHECK if block else 0,
                       return_when=FIRST_COMPLETED)
        while block and not done:
            if self.stop.is_set():
                # At once, not when the walk notices: a worker whose request timed out must
                # not send the next queued photo to the same dead server meanwhile.
                self.analyzer.slots.stop()
            done, _ = wait(list(pending), timeout=STOP_CHECK, return_when=FIRST_COMPLETED)
        for future in done:
            job = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # a bug must cost one photo, not the run
                log.exception("internal error on %s", job.photo.path)
                outcome = _InternalError(job.photo.path, f"internal error: {exc!r}")
            if isinstance(outcome, Stopped):
                continue  # not sent: not recorded, not reported; the next run does it
            try:
                report = self._finish(job, outcome)
            except StateError as exc:
                # Not recorded, so not reported: the next run does it (writing nothing new).
                self._state_error = self._state_error or exc
                continue
            self._emit(report)
        if self._state_error is not None and not draining:
            raise self._state_error

    def _finish(self, job: _Job, outcome: Finished) -> PhotoReport:
        photo, todo = job.photo, job.todo
        path = Path(photo.path)
        if job.upgrade is not None:
            return self._finish_upgrade(job, outcome)
        if isinstance(outcome, ImageError):
            if _being_written(photo, self.options.settle):
                # Not failed, not recorded: the pass after the copy does it.
                return PhotoReport(path, "skipped",
                                   error=f"{outcome.reason}; still being written")
            self._mark_failed(photo, todo, outcome.reason)
            if _file_at_fault(outcome) and not self.options.dry_run:
                self.state.set_bad(photo, outcome.reason)  # skipped while unchanged
            return PhotoReport(path, "failed", error=str(outcome))
        if job.bad and not self.options.dry_run:
            self.state.set_bad(photo, None)  # it decodes now (a newer decoder, say)
        result = with_source(outcome, self.options.source) if self.options.source else outcome
        produced = [t for t in todo if t not in result.errors]
        # A type no model can serve was said once at the top: its short reason here.
        reasons = {t: self.unusable.get(t, e) for t, e in result.errors.items()}
        error = "; ".join(f"{t}: {e}" for t, e in reasons.items()) or None
        if not produced:
            self._mark_failed(photo, todo, error or "no result")
            return PhotoReport(path, "failed", result=result, error=error)
        try:
            change = update_sidecar(
                path, result, naming=self.options.naming,
                force=self.options.force or job.regenerate,
                dry_run=self.options.dry_run, source=self.options.source,
                follow_symlinks=self.options.follow_symlinks,
                keyword_parent=self.options.keyword_parent,
                vocabulary=self.options.vocabulary, new_keywords=self.options.new_keywords,
            )
        except SidecarError as exc:
            # The sidecar is left untouched and nothing is marked done: the next run retries.
            return PhotoReport(path, "failed", result=result, error=str(exc))
        if not self.options.dry_run:
            self._collect_vocabulary(photo, change)
            self._mark_done(photo, result, produced)
            self._mark_failed(photo, tuple(result.errors), error or "")
        # A dry run wrote nothing: "done" would claim a sidecar that is not there; what it
        # would have done is in `planned`.
        done = change.changed and not self.options.dry_run
        status: Status = "failed" if result.errors else "done" if done else "unchanged"
        return PhotoReport(
            path, status, sidecar=change.path, result=result, error=error,
            planned=_planned(change) if self.options.dry_run else None,
        )

    def _finish_upgrade(self, job: _Job, outcome: Finished) -> PhotoReport:
        """A photo a fallback answered, asked again of the better models: what they answer
        replaces our values of the fallback (the user's stay); what they do not answer, or a
        photo that no longer decodes, keeps what it has."""
        path = Path(job.photo.path)
        if isinstance(outcome, ImageError):
            log.info("upgrade of %s skipped: %s", path, outcome)
            return PhotoReport(path, "unchanged")
        if not self.options.dry_run:
            # Asked and answered, but not usable (an invalid answer): not asked again.
            for model_type in outcome.errors:
                if model_type not in outcome.fallback:
                    self.state.keep_fallback(job.photo, model_type)
        produced = [t for t in job.todo if t not in outcome.errors]
        if not produced:
            return PhotoReport(path, "unchanged", result=outcome)
        result = replace(outcome, errors={})  # a type not upgraded keeps what it has
        try:
            change = update_sidecar(
                path, result, naming=self.options.naming, force=True,
                dry_run=self.options.dry_run, follow_symlinks=self.options.follow_symlinks,
                keyword_parent=self.options.keyword_parent,
                vocabulary=self.options.vocabulary, new_keywords=self.options.new_keywords,
            )
        except SidecarError as exc:
            return PhotoReport(path, "failed", result=result, error=str(exc))
        if self.options.dry_run:
            return PhotoReport(path, "unchanged", sidecar=change.path, result=result,
                               planned=_planned(change))
        self._collect_vocabulary(job.photo, change)
        self._mark_done(job.photo, result, produced)
        # A text (caption, title) the owner wrote meanwhile stays: that type was not upgraded.
        texts = {row.name for row in modeltypes.TEXT_TYPES}
        upgraded = [t for t in produced if t not in texts or change.texts_added.get(t) is not None]
        if change.changed:
            self.summary.upgraded += 1
        return PhotoReport(path, "done" if change.changed else "unchanged", sidecar=change.path,
                           result=result, upgraded=upgraded)

    def _collect_vocabulary(self, photo: Photo, change: SidecarChange) -> None:
        """The owner's keywords the sidecar write read anyway, into the state (committed with
        the photo's results) and, for `Vocabulary: library`, into this run's vocabulary."""
        self.state.set_vocabulary(photo, change.owner_keywords)
        if self.options.vocabulary is not None:
            self.options.vocabulary.learn(change.owner_keywords)

    def _mark_done(self, photo: Photo, result: PhotoResult, types: Iterable[str]) -> None:
        for model_type in types:
            self.state.mark_done(photo, model_type, model=result.models[model_type],
                                 source=_source_of(result, model_type),
                                 fallback=result.fallback.get(model_type, ()))

    def _mark_failed(self, photo: Photo, types: Iterable[str], error: str) -> None:
        if self.options.dry_run:
            return
        for model_type in types:
            self.state.mark_failed(photo, model_type, error)

    def _emit(self, report: PhotoReport) -> None:
        self.summary.add(report.status, report.result)
        self.report.photo(report)


def _being_written(photo: Photo, settle: float) -> bool:
    """The file changed since it was found, or (with `settle`) moments ago."""
    try:
        st = os.stat(photo.path)
    except OSError:
        return False
    return ((st.st_size, st.st_mtime_ns) != (photo.size, photo.mtime_ns)
            or time.time() - st.st_mtime < settle)


def _source_of(result: PhotoResult, model_type: str) -> str:
    value = result.value(model_type)
    if isinstance(value, list) and value:
        return value[0].source
    if isinstance(value, GeneratedText):
        return value.source
    return result.sources.get(model_type, DEFAULT_SOURCE)


def _planned(change: SidecarChange) -> dict[str, Any]:
    return {
        "keywords_added": list(change.keywords_added),
        "keywords_removed": list(change.keywords_removed),
        **change.planned_texts(),
        "created": change.created,
    }
