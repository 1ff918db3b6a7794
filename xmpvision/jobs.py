"""The library's jobs: `scan`, `vision run` and `vision reset` as functions that the CLI and the
daemon share. A job takes the run lock, opens the state database, owns the engines for its
duration and reports each photo to a `Reporter`; it never prints and never exits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

from xmpvision.chain.analyzer import MANUAL_CONTEXTS, SCAN_CONTEXTS, build_analyzer
from xmpvision.config.models import SUPPORTED_TYPES, ModelConfig, VisionConfig
from xmpvision.discover import DiscoveryError, Photo, discover, photo_kind
from xmpvision.engines.base import Engine
from xmpvision.errors import ImageError, NoRunnableModel, SidecarError, UsageError
from xmpvision.health.monitor import monitored_factory
from xmpvision.pipeline import Pipeline, Reporter, RunOptions, RunResult
from xmpvision.prepare.images import PhotoImage
from xmpvision.report import PhotoReport, Status, Summary
from xmpvision.runlock import run_lock
from xmpvision.runmodes import RunMode
from xmpvision.sidecar import existing_sidecar, find_sidecar, reset_sidecar
from xmpvision.sidecar.paths import Naming
from xmpvision.state import StateDB, default_state_path

__all__ = [
    "MANUAL_CONTEXTS",
    "SCAN_CONTEXTS",
    "RunOptions",
    "RunResult",
    "check_roots",
    "reset_library",
    "run_models",
    "run_scan",
    "test_photo",
]

EngineFactory = Callable[[ModelConfig], Engine]


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
    factory: EngineFactory | None = None,
) -> RunResult:
    """Run the chains of `types` that apply in `contexts` over every photo under `roots`.

    Raises UsageError, NoRunnableModel, RunLocked or StateError before any photo is touched.
    """
    check_roots(roots)
    # How sidecars are written is the configuration's, whoever started the run.
    options = replace(options, naming=config.sidecar.naming,
                      keyword_parent=config.sidecar.keyword_parent)
    # Every long run watches Ollama's health (and restarts it when it drifts); a caller with
    # its own factory (the daemon, whose monitor outlives its jobs; tests) attaches its own.
    with (monitored_factory(config, state_path) if factory is None
          else nullcontext(factory)) as make:
        analyzer = build_analyzer(config, types, contexts, make)
        try:
            if not analyzer.types:
                raise NoRunnableModel(
                    f"no model of type {', '.join(types)} runs in this context "
                    f"({', '.join(c.value for c in contexts)}); see `xmpvision vision ls`"
                )
            with _state(state_path) as state:
                return Pipeline(analyzer, state, options, reporter, stop).run(roots)
        finally:
            analyzer.close()


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
               "caption_removed": change.caption_removed,
               "title_removed": change.title_removed} if dry_run else None
    # A dry run wrote nothing: what it would remove is in `planned`.
    status: Status = "done" if change.changed and not dry_run else "unchanged"
    return PhotoReport(path, status, sidecar=change.path, planned=planned)


def test_photo(config: VisionConfig, image: Path, types: Sequence[str], *,
               factory: EngineFactory | None = None) -> PhotoReport:
    """`vision test`: the chains of `types` on one photo in the manual context; nothing is
    written (`sidecar` is where a run would write)."""
    analyzer = build_analyzer(config, types, MANUAL_CONTEXTS, factory)
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
