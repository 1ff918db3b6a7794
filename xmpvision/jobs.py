"""The library's jobs: `scan`, `vision run` and `vision reset` as functions that the CLI and the
daemon share. A job takes the run lock, opens the state database, owns the engines for its
duration and reports each photo to a `Reporter`; it never prints and never exits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from xmpvision.chain.analyzer import MANUAL_CONTEXTS, SCAN_CONTEXTS, build_analyzer
from xmpvision.chain.compose import Engines
from xmpvision.config.defaults import VOCABULARY_LIBRARY
from xmpvision.config.models import SUPPORTED_TYPES, VisionConfig
from xmpvision.discover import DiscoveryError, Photo, discover, photo_kind
from xmpvision.errors import (
    EngineUnavailable,
    ImageError,
    NoRunnableModel,
    SidecarError,
    UsageError,
)
from xmpvision.health.monitor import monitored_engines
from xmpvision.pipeline import Pipeline, Reporter, RunOptions, RunResult
from xmpvision.prepare.images import PhotoImage
from xmpvision.report import PhotoReport, Status, Summary
from xmpvision.runlock import run_lock
from xmpvision.runmodes import RunMode
from xmpvision.sidecar import existing_sidecar, find_sidecar, reset_sidecar
from xmpvision.sidecar.paths import Naming
from xmpvision.state import StateDB, default_state_path
from xmpvision.text.vocabulary import Vocabulary, vocabulary_from

if TYPE_CHECKING:
    import httpx

    from xmpvision.engines import catalog as _catalog
    from xmpvision.engines import downloads as _downloads

__all__ = [
    "MANUAL_CONTEXTS",
    "SCAN_CONTEXTS",
    "Engines",
    "ModelStatus",
    "PullResult",
    "RunOptions",
    "RunResult",
    "check_roots",
    "list_models",
    "pull_model",
    "reset_library",
    "run_models",
    "run_scan",
    "test_photo",
]


def check_roots(roots: Sequence[Path]) -> None:
    """Every root is a folder or a photo; else a usage error naming it (nothing is started)."""
    if not roots:
        raise UsageError("no folder or photo given")
    for root in roots:
        try:
            is_dir = root.is_dir()
            exists = is_dir or root.exists()
        except OSError as exc:
            raise UsageError(f"{root}: {exc.strerror or exc}") from exc
        if not exists:
            raise UsageError(f"{root}: no such folder or photo")
        if not is_dir and photo_kind(root.name) is None:
            raise UsageError(f"{root}: not a folder or a supported photo type")


@contextmanager
def _state(state_path: Path | None) -> Iterator[StateDB]:
    path = state_path or default_state_path()
    with run_lock(path), StateDB.open(path) as state:
        yield state


def run_models(
    config: VisionConfig,
    roots: Sequence[Path],
    *,
    types: Sequence[str],
    contexts: Sequence[RunMode],
    options: RunOptions,
    reporter: Reporter,
    state_path: Path | None = None,
    stop: threading.Event | None = None,
    engines: Engines | None = None,
) -> RunResult:
    """Run the chains of `types` that apply in `contexts` over every photo under `roots`.

    `engines`: the caller's, kept open after the run (the daemon's, across its jobs); else the
    run's own, watched by a health monitor for the run's duration.
    Raises UsageError, NoRunnableModel, RunLocked or StateError before any photo is touched.
    """
    check_roots(roots)
    # How sidecars are written is the configuration's, whoever started the run.
    options = replace(options, naming=config.sidecar.naming,
                      keyword_parent=config.sidecar.keyword_parent,
                      upgrade=config.fallback.upgrade)
    # Every long run watches Ollama's health (and restarts it when it drifts); the daemon's
    # engines are watched by its own monitor, which outlives its jobs.
    with (monitored_engines(config, state_path) if engines is None
          else nullcontext(engines)) as run_engines:
        analyzer = build_analyzer(config, types, contexts, run_engines)
        try:
            if not analyzer.types:
                raise NoRunnableModel(
                    f"no model of type {', '.join(types)} runs in this context "
                    f"({', '.join(c.value for c in contexts)}); see `xmpvision vision ls`"
                )
            with _state(state_path) as state:
                options = replace(options, vocabulary=_vocabulary(config, state),
                                  new_keywords=config.keywords.new)
                return Pipeline(analyzer, state, options, reporter, stop).run(roots)
        finally:
            analyzer.close()


def _vocabulary(config: VisionConfig, state: StateDB) -> Vocabulary | None:
    """`Keywords.Vocabulary`: the library's (the owner's keywords earlier scans collected, and
    those this one reads) or a file's; None when neither it nor `Synonyms` is set."""
    wanted = config.keywords.vocabulary
    if wanted is None and config.keywords.synonyms is None:
        return None
    library = wanted is None or wanted.strip().lower() == VOCABULARY_LIBRARY
    return vocabulary_from(state.vocabulary() if library else {},
                           None if library else Path(wanted or "").expanduser(),
                           config.keywords.synonyms)


def run_scan(
    config: VisionConfig,
    roots: Sequence[Path],
    *,
    options: RunOptions,
    reporter: Reporter,
    state_path: Path | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """`xmpvision scan`: every model whose Run mode applies to indexing."""
    return run_models(config, roots, types=SUPPORTED_TYPES, contexts=SCAN_CONTEXTS,
                      options=options, reporter=reporter, state_path=state_path, stop=stop)


def reset_library(
    roots: Sequence[Path],
    types: set[str],
    source: str,
    *,
    reporter: Reporter,
    naming: Naming = "full",
    dry_run: bool = False,
    state_path: Path | None = None,
    follow_symlinks: bool = False,
) -> Summary:
    """`vision reset` over every photo under `roots`: our values of `source` out, the state of
    those types forgotten (so the next run makes them again)."""
    check_roots(roots)
    summary = Summary()
    started = time.monotonic()
    with _state(state_path) as state:
        for item in discover(roots, follow_symlinks=follow_symlinks):
            if isinstance(item, DiscoveryError):
                report = PhotoReport(Path(item.path), "failed", error=str(item))
            else:
                report = _reset_one(item, types, source, naming, dry_run, state,
                                    follow_symlinks=follow_symlinks)
            summary.add(report.status)
            if report.status == "unchanged" and report.planned is None:
                reporter.unchanged(os.fsdecode(item.path))
            else:
                reporter.photo(report)
    summary.seconds = time.monotonic() - started
    return summary


def _reset_one(photo: Photo, types: set[str], source: str, naming: Naming, dry_run: bool,
               state: StateDB, *, follow_symlinks: bool) -> PhotoReport:
    path = Path(photo.path)
    if existing_sidecar(path, naming) is None:
        return PhotoReport(path, "unchanged")
    try:
        change = reset_sidecar(path, types, source, naming=naming, dry_run=dry_run,
                               follow_symlinks=follow_symlinks)
    except SidecarError as exc:
        return PhotoReport(path, "failed", error=str(exc))
    if change.changed and not dry_run:
        state.forget(photo, types)
    planned = {"keywords_removed": list(change.keywords_removed),
               **change.planned_texts(added=False)} if dry_run else None
    # A dry run wrote nothing: what it would remove is in `planned`.
    status: Status = "done" if change.changed and not dry_run else "unchanged"
    return PhotoReport(path, status, sidecar=change.path, planned=planned)


def test_photo(config: VisionConfig, image: Path, types: Sequence[str]) -> PhotoReport:
    """`vision test`: the chains of `types` on one photo in the manual context; nothing is
    written (`sidecar` is where a run would write)."""
    analyzer = build_analyzer(config, types, MANUAL_CONTEXTS)
    sidecar = find_sidecar(image, config.sidecar.naming)
    try:
        with PhotoImage(image) as photo:
            result = analyzer.analyze(photo, analyzer.types)
    except ImageError as exc:
        return PhotoReport(path=image, sidecar=sidecar, status="failed", error=str(exc))
    finally:
        analyzer.close()
    missing = [t for t in types if t not in analyzer.types]
    errors = dict(result.errors)
    errors.update((t, "no model of this type runs in the manual context") for t in missing)
    failed = len(errors) == len(types)
    return PhotoReport(
        path=image, sidecar=sidecar, status="failed" if failed else "done", result=result,
        error="; ".join(f"{t}: {e}" for t, e in errors.items()) or None,
    )


# --- classifier models: `models pull` and `models ls` ------------------------------------------
# The catalog and the downloader (httpx) are imported by these alone: a scan needs neither.


@dataclass(frozen=True)
class PullResult:
    name: str
    path: Path
    source: str  # the URL or file it came from ("" when nothing was done)
    installed: bool  # False: it was installed already, and nothing was done
    size: int = 0  # bytes downloaded or read
    sha256: str | None = None  # of what was installed
    verified: _downloads.Checksum | None = None  # the digest it matched; None: unverified


def pull_model(
    name: str,
    *,
    file: Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    env: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    progress: _downloads.Progress | None = None,
) -> PullResult:
    """`models pull`: download a catalog model (or install a `file` fetched by hand), check
    its checksum (the catalog's, or `sha256` when given) and put it in the models directory.

    An installed model is left alone unless `force`. Raises UsageError for what the caller
    asked wrongly, EngineUnavailable for a download or file that failed; either way nothing
    is left half-installed.
    """
    from xmpvision.engines import catalog as _catalog
    from xmpvision.engines import downloads as _downloads

    environ = os.environ if env is None else env
    entry = _catalog.find_entry(name)
    if entry is None:
        raise UsageError(f"unknown model {name!r}; known: {', '.join(_catalog.CATALOG)}")
    if file is not None and url is not None:
        raise UsageError("give a file or a URL to fetch the model from, not both")
    checksums = entry.checksums
    if sha256 is not None:
        try:
            checksums = (_downloads.parse_sha256(sha256),)
        except ValueError as exc:
            raise UsageError(f"sha256 {sha256!r}: {exc}") from None
    target = _catalog.model_location(entry, environ)
    if file is not None and not file.is_file():
        raise UsageError(f"{file}: {'not a file' if file.exists() else 'no such file'}")
    missing = entry.layout.missing(target)
    if not force and (target.exists() or target.is_symlink()):
        if not missing:
            return PullResult(entry.name, target, "", installed=False)
        raise UsageError(f"{target} exists but does not hold a complete {entry.name} model "
                         f"(no {', '.join(missing)}); pull it with --force to replace it")
    source = str(file) if file is not None else url or _catalog.source_url(entry, environ)
    try:
        done = _downloads.install(
            target, entry.layout, checksums, url=None if file else source, file=file,
            client=client, progress=progress, replace=force)
    except _downloads.DownloadFailed as failed:
        if failed.local:
            raise UsageError(f"cannot install model {entry.name}: {failed.reason}; set "
                             f"{_catalog.ENV_MODELS} to a folder this user can write") from None
        raise _pull_error(entry, source, target, failed, from_file=file is not None) from None
    return PullResult(entry.name, target, source, installed=True, size=done.size,
                      sha256=done.digests.get("sha256"), verified=done.matched)


def _pull_error(entry: _catalog.CatalogEntry, source: str, target: Path,
                failed: _downloads.DownloadFailed, *, from_file: bool) -> EngineUnavailable:
    """One line: what failed, where, why; and how to get the model in anyway."""
    by_hand = (f"fetch {source} by hand and install it with `xmpvision models pull "
               f"{entry.name} --file {entry.file_name}` (it goes to {target})")
    if from_file:
        return EngineUnavailable(
            f"error installing model {entry.name} from {source}: {failed.reason}",
            hint=f"nothing was installed; fetch {entry.url} again, or give its SHA-256 with "
            "--sha256 if it is a build of your own")
    if failed.offline:
        hint = f"this machine seems to be offline: {by_hand}"
    elif failed.reason.startswith("checksum mismatch"):
        hint = (f"nothing was installed: this is not the file the catalog pins (a proxy's "
                f"page, a changed upload or a damaged copy); {by_hand}, or give its SHA-256 "
                "with --sha256 if you trust it")
    else:
        hint = f"nothing was installed; try again, or {by_hand}"
    return EngineUnavailable(
        f"error downloading model {entry.name} from {source}: {failed.reason}", hint=hint)


@dataclass(frozen=True)
class ModelStatus:
    entry: _catalog.CatalogEntry
    path: Path  # where it is, or would be, installed
    status: str  # "installed", "not installed", or "incomplete" (a directory without the model)
    size: int | None  # bytes on disk when installed

    def to_dict(self) -> dict[str, object]:
        entry = self.entry
        return {"name": entry.name, "engine": entry.engine, "default": entry.default,
                "status": self.status, "installed": self.status == "installed",
                "path": str(self.path), "size": self.size,
                "download_size": entry.download_size, "url": entry.url,
                "checksums": [str(c) for c in entry.checksums]}


def list_models(env: Mapping[str, str] | None = None) -> list[ModelStatus]:
    """`models ls`: every catalog model, whether and where it is installed, and its size."""
    from xmpvision.engines import catalog as _catalog

    environ = os.environ if env is None else env
    statuses = []
    for entry in _catalog.CATALOG.values():
        path = _catalog.model_location(entry, environ)
        if not entry.layout.missing(path):
            statuses.append(ModelStatus(entry, path, "installed", _disk_size(path)))
        else:
            present = path.exists() or path.is_symlink()
            statuses.append(ModelStatus(entry, path, "incomplete" if present else
                                        "not installed", None))
    return statuses


def _disk_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue  # vanished meanwhile: it no longer takes space
    return total
