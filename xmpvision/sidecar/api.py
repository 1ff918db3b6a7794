"""update_sidecar / reset_sidecar: locate, read, merge, write atomically, report the change."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from xmpvision import __version__
from xmpvision.errors import SidecarError
from xmpvision.results import PhotoResult
from xmpvision.sidecar import merge, rdf
from xmpvision.sidecar.embedded import embedded_keywords
from xmpvision.sidecar.model import parse_sidecar, state_of, unsupported
from xmpvision.sidecar.paths import Naming, find_sidecar
from xmpvision.sidecar.writer import (
    ConcurrentChange,
    atomic_replace,
    discard_stale_temp,
    folder_lock,
    read_current,
    symlinked,
)
from xmpvision.text.untrusted import photo_id

log = logging.getLogger(__name__)

RESET_TYPES = ("labels", "caption", "title")
MAX_ATTEMPTS = 5  # re-read/re-merge rounds when another program keeps writing the sidecar


@dataclass(frozen=True)
class SidecarChange:
    """What an update or reset did (or, with dry_run, would do) to one sidecar."""

    path: Path
    changed: bool  # the file was (or would be) written
    created: bool  # the sidecar did not exist before
    dry_run: bool
    keywords_added: tuple[str, ...]
    keywords_removed: tuple[str, ...]
    caption_added: str | None  # the caption now in x-default, when we changed it
    caption_removed: str | None  # the x-default caption we replaced or took out
    keywords: tuple[str, ...]  # dc:subject after the change
    caption: str | None  # x-default dc:description after the change
    caption_source: str | None  # our record's source, "xmp" for the user's, None if no caption
    notes: tuple[str, ...]  # why values were kept or skipped, for -v output
    title_added: str | None = None  # the title now in x-default, when we changed it
    title_removed: str | None = None  # the x-default title we replaced or took out
    title: str | None = None  # x-default dc:title after the change
    title_source: str | None = None  # our record's source, "xmp" for the user's, None if none

    @property
    def status(self) -> str:
        """"done" or "unchanged", as in `scan --json`."""
        return "done" if self.changed else "unchanged"


def _timestamp(now: datetime | None) -> str:
    moment = (now or datetime.now()).astimezone()  # naive means local time
    return moment.isoformat(timespec="seconds")


def _load(path: Path, data: bytes | None) -> rdf.Packet:
    # A zero-byte or blank sidecar holds nothing to lose (some tools touch one); fill it in.
    if data is None or not data.strip():
        return rdf.Packet.new(f"xmpvision {__version__}")
    return parse_sidecar(path, data)


def _apply(
    photo: Path,
    naming: Naming,
    dry_run: bool,
    now: datetime | None,
    operation: Callable[[rdf.Packet, str], merge.MergeOutcome],
    follow_symlinks: bool,
) -> SidecarChange:
    sidecar = find_sidecar(photo, naming)
    target = sidecar
    if os.path.islink(sidecar):
        # Whoever can write the library could point the link anywhere (run as root: anything).
        if not follow_symlinks:
            raise symlinked(sidecar)
        target = Path(os.path.realpath(sidecar))  # write through to the target, link kept
    stamp = _timestamp(now)
    for _attempt in range(MAX_ATTEMPTS):
        with folder_lock(target.parent) as locked:
            if locked and not dry_run:
                discard_stale_temp(target)
            before = read_current(target, follow_symlinks=follow_symlinks)
            packet = _load(target, before)
            try:
                outcome = operation(packet, stamp)
            except rdf.UnsupportedRdf as exc:  # prepare() in _load refuses these first
                raise unsupported(target, exc) from None
            data = packet.to_bytes() if outcome.changed else None
            if data is not None and not dry_run:
                try:
                    atomic_replace(target, data, expected=before, locked=locked,
                                   follow_symlinks=follow_symlinks)
                except ConcurrentChange:
                    log.info("%s changed on disk while we worked; merging again", target)
                    continue
        return _change(sidecar, packet, outcome, created=before is None, dry_run=dry_run)
    raise SidecarError(sidecar, f"changed by another program in each of {MAX_ATTEMPTS} attempts")


def _change(
    path: Path, packet: rdf.Packet, outcome: merge.MergeOutcome, *, created: bool, dry_run: bool
) -> SidecarChange:
    state = state_of(packet)
    caption = state.caption if state.caption and state.caption.strip() else None
    title = state.title if state.title and state.title.strip() else None
    return SidecarChange(
        path=path,
        changed=outcome.changed,
        created=created and outcome.changed,
        dry_run=dry_run,
        keywords_added=tuple(outcome.keywords_added),
        keywords_removed=tuple(outcome.keywords_removed),
        caption_added=outcome.caption_added,
        caption_removed=outcome.caption_removed,
        keywords=state.subjects,
        caption=caption,
        caption_source=outcome.caption_source,
        notes=tuple(outcome.notes),
        title_added=outcome.title_added,
        title_removed=outcome.title_removed,
        title=title,
        title_source=outcome.title_source,
    )


def update_sidecar(
    photo: Path,
    result: PhotoResult,
    *,
    naming: Naming = "full",
    force: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    source: str | None = None,
    follow_symlinks: bool = False,
    keyword_parent: str | None = None,
) -> SidecarChange:
    """Merge a photo's result into its sidecar (created if none exists), atomically.

    `result.labels` None leaves keywords alone; a list (even empty) regenerates: our keywords
    of this photo whose source priority is <= the run's are replaced by the new ones. `source`
    is the `--source` override; it only matters for an empty list, whose run source is
    otherwise taken from `result.models["labels"]` (tensorflow -> image, else ollama).
    `keyword_parent` ("AI"; "|" or "/" nest further) puts our keywords under that parent in
    lr:hierarchicalSubject and digiKam:TagsList ("AI|Dog", "AI/Dog"; a label's categories
    nest in between: "AI|Animal|Cat"), dc:subject keeps "Dog"; keywords of ours the run
    produces again move when it changed. `result.title` goes to dc:title as captions go to
    dc:description.
    Raises SidecarError for a corrupt, unreadable or unwritable sidecar, one whose fields are
    in an RDF form we cannot merge, and (unless `follow_symlinks`) one that is a symbolic link;
    each is left untouched.
    """
    embedded = embedded_keywords(photo) if result.labels else set()
    ident = photo_id(photo.name)

    def operation(packet: rdf.Packet, stamp: str) -> merge.MergeOutcome:
        return merge.apply_update(
            packet,
            result,
            photo=ident,
            now=stamp,
            force=force,
            source=source,
            embedded=embedded,
            keyword_parent=keyword_parent,
        )

    return _apply(photo, naming, dry_run, now, operation, follow_symlinks)


def reset_sidecar(
    photo: Path,
    types: set[str],
    source: str,
    *,
    naming: Naming = "full",
    dry_run: bool = False,
    now: datetime | None = None,
    follow_symlinks: bool = False,
) -> SidecarChange:
    """Remove the keywords ("labels"), caption ("caption") and/or title ("title") we wrote for
    `photo` with `source`, restoring what a caption or title of ours replaced; user values and
    values of other sources stay. Keywords go from every path we recorded writing them to,
    whatever the keyword parent is now. No sidecar: nothing to do.
    Raises SidecarError as update_sidecar does (a symbolic link only with `follow_symlinks`)."""
    unknown = types - set(RESET_TYPES)
    if unknown:
        raise ValueError(f"unknown model types {sorted(unknown)}; "
                         f"allowed: {', '.join(RESET_TYPES)}")
    ident = photo_id(photo.name)

    def operation(packet: rdf.Packet, stamp: str) -> merge.MergeOutcome:
        return merge.apply_reset(packet, types=types, source=source, photo=ident, now=stamp)

    return _apply(photo, naming, dry_run, now, operation, follow_symlinks)
