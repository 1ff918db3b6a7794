"""update_sidecar / reset_sidecar: locate, read, merge, write atomically, report the change."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from xmpvision import __version__, modeltypes
from xmpvision.config.defaults import DEFAULT_NEW_KEYWORDS, NewKeywords
from xmpvision.errors import SidecarError
from xmpvision.results import PhotoResult
from xmpvision.sidecar import merge, rdf
from xmpvision.sidecar.embedded import OwnerMetadata, blocked_names, owner_metadata
from xmpvision.sidecar.model import parse_sidecar, state_of, unsupported
from xmpvision.sidecar.owner import seed
from xmpvision.sidecar.paths import Naming, find_sidecar
from xmpvision.sidecar.provenance import FIELD_HIERARCHICAL, FIELD_SUBJECT, FIELD_TAGSLIST
from xmpvision.sidecar.writer import (
    ConcurrentChange,
    atomic_replace,
    discard_stale_temp,
    folder_lock,
    read_current,
    symlinked,
)
from xmpvision.text.untrusted import photo_id
from xmpvision.text.vocabulary import Vocabulary, owner_paths

log = logging.getLogger(__name__)

RESET_TYPES = modeltypes.OUTPUT_TYPES
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
    keywords: tuple[str, ...]  # dc:subject after the change
    notes: tuple[str, ...]  # why values were kept or skipped, for -v output
    # Per text type (modeltypes): the text now in x-default, where we changed it; the x-default
    # text we replaced or took out; the x-default text after the change; its source (our
    # record's, "xmp" for the user's). A type without an entry: unchanged / none.
    texts_added: dict[str, str | None] = field(default_factory=dict)
    texts_removed: dict[str, str | None] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    text_sources: dict[str, str] = field(default_factory=dict)
    # The owner's keywords of the photo as "|"-separated paths (the sidecar's that are not
    # ours, and those embedded in the photo where it was read): the library's vocabulary.
    owner_keywords: frozenset[str] = frozenset()

    @property
    def status(self) -> str:
        """"done" or "unchanged", as in `scan --json`."""
        return "done" if self.changed else "unchanged"

    def planned_texts(self, *, added: bool = True) -> dict[str, str | None]:
        """The text changes as a dry run reports them: "<key>_added" (unless not `added`) and
        "<key>_removed" per text type, keyed as in the NDJSON records."""
        planned: dict[str, str | None] = {}
        for row in modeltypes.TEXT_TYPES:
            if added:
                planned[f"{row.key}_added"] = self.texts_added.get(row.name)
            planned[f"{row.key}_removed"] = self.texts_removed.get(row.name)
        return planned

    @property
    def caption_added(self) -> str | None:
        return self.texts_added.get("caption")

    @property
    def caption_removed(self) -> str | None:
        return self.texts_removed.get("caption")

    @property
    def caption(self) -> str | None:
        return self.texts.get("caption")

    @property
    def caption_source(self) -> str | None:
        return self.text_sources.get("caption")

    @property
    def title_added(self) -> str | None:
        return self.texts_added.get("title")

    @property
    def title_removed(self) -> str | None:
        return self.texts_removed.get("title")

    @property
    def title(self) -> str | None:
        return self.texts.get("title")

    @property
    def title_source(self) -> str | None:
        return self.text_sources.get("title")


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
    owner: Callable[[], OwnerMetadata] | None = None,
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
            if owner is not None and (before is None or not before.strip()):
                seed(packet, owner())  # a new sidecar starts with the owner's own metadata
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
    texts = {row.name: text for row in modeltypes.TEXT_TYPES
             if (text := state.text(row.name)) and text.strip()}
    ours = {(name, value.casefold()) for record in state.provenance.keywords
            for name, value in record.written()}

    def theirs(field_name: str, items: tuple[str, ...] | None) -> list[str]:
        return [item for item in items or () if (field_name, item.casefold()) not in ours]
    return SidecarChange(
        path=path,
        changed=outcome.changed,
        created=created and outcome.changed,
        dry_run=dry_run,
        keywords_added=tuple(outcome.keywords_added),
        keywords_removed=tuple(outcome.keywords_removed),
        keywords=state.subjects,
        notes=tuple(outcome.notes),
        texts_added=dict(outcome.added),
        texts_removed=dict(outcome.removed),
        texts=texts,
        text_sources=dict(outcome.sources),
        owner_keywords=frozenset(owner_paths(
            theirs(FIELD_SUBJECT, state.subjects), theirs(FIELD_HIERARCHICAL, state.hierarchical),
            theirs(FIELD_TAGSLIST, state.tags_list))),
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
    vocabulary: Vocabulary | None = None,
    new_keywords: NewKeywords = DEFAULT_NEW_KEYWORDS,
) -> SidecarChange:
    """Merge a photo's result into its sidecar (created if none exists), atomically.

    `result.labels` None leaves keywords alone; a list (even empty) regenerates: our keywords
    of this photo whose source priority is <= the run's are replaced by the new ones. `source`
    is the `--source` override; it only matters for an empty list, whose run source is
    otherwise taken from `result.models["labels"]` (tensorflow -> image, else ollama).
    `keyword_parent` ("AI"; "|" or "/" nest further) puts our keywords under that parent in
    lr:hierarchicalSubject and digiKam:TagsList ("AI|Dog", "AI/Dog"; a label's categories
    nest in between: "AI|Animal|Cat"), dc:subject keeps "Dog"; keywords of ours the run
    produces again move when it changed. Each of `result.texts` goes to its type's property
    (modeltypes: caption to dc:description, title to dc:title). With a `vocabulary`, a
    keyword that is one of the owner's terms is written as theirs, where it sits in their tree;
    `new_keywords` says what happens to the others (allow, review, deny).
    A new sidecar starts with the owner's embedded keywords, caption and title.
    Raises SidecarError for a corrupt, unreadable or unwritable sidecar, one whose fields are
    in an RDF form we cannot merge, and (unless `follow_symlinks`) one that is a symbolic link;
    each is left untouched.
    """
    found: list[OwnerMetadata] = []

    def owner() -> OwnerMetadata:  # read once, and only when needed
        if not found:
            found.append(owner_metadata(photo))
        return found[0]

    ident = photo_id(photo.name)

    def operation(packet: rdf.Packet, stamp: str) -> merge.MergeOutcome:
        return merge.apply_update(
            packet,
            result,
            photo=ident,
            now=stamp,
            force=force,
            source=source,
            embedded=blocked_names(owner()) if result.labels else set(),
            keyword_parent=keyword_parent,
            vocabulary=vocabulary,
            new=new_keywords,
        )

    change = _apply(photo, naming, dry_run, now, operation, follow_symlinks, owner)
    if not found:
        return change
    embedded = owner_paths(found[0].subjects, found[0].hierarchical, found[0].tags_list)
    return replace(change, owner_keywords=change.owner_keywords | embedded)


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
    """Remove the values of the types in `types` (RESET_TYPES: keywords, caption, title) we wrote
    for `photo` with `source`, restoring what a text of ours replaced; user values and
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
