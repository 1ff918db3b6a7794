"""What the owner embedded in the photo: keywords, caption, title (read only, never written).

We find the packet by scanning the file for `<x:xmpmeta` ... `</x:xmpmeta>`, as the XMP
specification allows for files of unknown format. XMP is stored uncompressed in JPEG (APP1),
TIFF-based RAW (tag 700), PNG (iTXt), WebP, HEIF and DNG, so one scanner covers them all
without pyexiv2's stdout warnings, GIL holding and UTF-8-only paths. mmap keeps large RAW
files out of memory. Known gap: JPEG "extended XMP" split over several APP1 segments.
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xmpvision.people import people_in_tree, unique_names
from xmpvision.prepare.metadata import owner_text, read_metadata
from xmpvision.sidecar import rdf
from xmpvision.sidecar.model import (
    DC_SUBJECT,
    DIGIKAM_TAGSLIST,
    KEYWORD_FIELDS,
    LR_HIERARCHICAL,
    TEXT_FIELDS,
)

log = logging.getLogger(__name__)

_OPEN = (b"<x:xmpmeta", b"<x:xapmeta")
_MAX_PACKETS = 4
DC_DESCRIPTION = TEXT_FIELDS["caption"]
DC_TITLE = TEXT_FIELDS["title"]


def _close_tag(open_tag: bytes) -> bytes:
    return b"</" + open_tag[1:] + b">"


def _packets(data: mmap.mmap | bytes) -> list[bytes]:
    found: list[bytes] = []
    for open_tag in _OPEN:
        start = data.find(open_tag)
        while start >= 0 and len(found) < _MAX_PACKETS:
            end = data.find(_close_tag(open_tag), start)
            if end < 0:
                break
            end += len(_close_tag(open_tag))
            found.append(bytes(data[start:end]))
            start = data.find(open_tag, end)
    return found


@dataclass(frozen=True)
class OwnerMetadata:
    """What the owner put in the photo itself: copied into a new sidecar (as digiKam and
    Lightroom do when they create one), so that readers which prefer the sidecar show it."""

    subjects: tuple[str, ...] = ()  # dc:subject and IPTC Keywords
    hierarchical: tuple[str, ...] = ()  # lr:hierarchicalSubject paths, "|"-separated
    tags_list: tuple[str, ...] = ()  # digiKam:TagsList paths, "/"-separated
    caption: str | None = None  # dc:description (x-default) or IPTC Caption-Abstract
    title: str | None = None  # dc:title (x-default) or IPTC Object Name
    people: tuple[str, ...] = ()  # named faces and PersonInImage (people.py); not copied

    def keywords(self) -> set[str]:
        """Case-folded keywords: dc:subject plus the leaves of hierarchical tags."""
        leaves = [item.rsplit("|", 1)[-1] for item in self.hierarchical]
        leaves += [item.rsplit("/", 1)[-1] for item in self.tags_list]
        return {word.strip().casefold() for word in (*self.subjects, *leaves) if word.strip()}


def _unique(*groups: Iterable[str]) -> tuple[str, ...]:
    """Items in order, the first spelling of each (case-insensitive), blanks dropped."""
    seen: dict[str, str] = {}
    for group in groups:
        for item in group:
            if item.strip():
                seen.setdefault(item.strip().casefold(), item.strip())
    return tuple(seen.values())


def _items(packet: rdf.Packet, tag: str) -> list[str]:
    node = packet.get(tag)
    return [] if node is None else rdf.node_items(node)


def _text(packet: rdf.Packet, tag: str) -> str | None:
    node = packet.get(tag)
    if node is None:
        return None
    try:
        items = rdf.node_lang_alt(node)
    except rdf.XmpFormatError:
        return None
    text = next((t for lang, t in items if lang.lower() == "x-default"),
                items[0][1] if items else "")
    return text.strip() or None


def _from_packet(packet: rdf.Packet) -> OwnerMetadata:
    for tag in (*KEYWORD_FIELDS, DC_DESCRIPTION, DC_TITLE):
        packet.normalize(tag, "any")  # inline rdf:nodeID references (raises UnsupportedRdf)
    return OwnerMetadata(
        subjects=_unique(_items(packet, DC_SUBJECT)),
        hierarchical=_unique(_items(packet, LR_HIERARCHICAL)),
        tags_list=_unique(_items(packet, DIGIKAM_TAGSLIST)),
        caption=_text(packet, DC_DESCRIPTION),
        title=_text(packet, DC_TITLE),
        people=people_in_tree(packet.tree.getroot()),
    )


def keywords_in_packet(packet: rdf.Packet) -> set[str]:
    """Case-folded keywords of a packet: dc:subject plus the leaves of hierarchical tags."""
    return _from_packet(packet).keywords()


def owner_metadata(photo: Path) -> OwnerMetadata:
    """The owner's keywords, caption and title embedded in the photo (its IPTC and XMP as exiv2
    reads them, and its XMP packets as we find them); empty if none or unreadable."""
    found = read_metadata(photo)
    packets = _packet_metadata(photo)
    return OwnerMetadata(
        subjects=_unique(found.keywords, *(p.subjects for p in packets)),
        hierarchical=_unique(found.hierarchical, *(p.hierarchical for p in packets)),
        tags_list=_unique(found.tags_list, *(p.tags_list for p in packets)),
        caption=found.caption or next((t for p in packets if (t := owner_text(p.caption))), None),
        title=found.title or next((t for p in packets if (t := owner_text(p.title))), None),
        people=unique_names((*found.people, *(n for p in packets for n in p.people))),
    )


def blocked_names(owner: OwnerMetadata) -> set[str]:
    """Case-folded words we never add as keywords for the photo: the owner's embedded keywords
    and the people they named (a caption may name them; a keyword of ours must not)."""
    return owner.keywords() | {name.casefold() for name in owner.people}


def embedded_keywords(photo: Path) -> set[str]:
    """Case-folded keywords the photo itself holds: the owner's, never repeated in the
    sidecar. Empty if none or unreadable."""
    return owner_metadata(photo).keywords()


def _packet_metadata(photo: Path) -> list[OwnerMetadata]:
    try:
        fd = os.open(photo, os.O_RDONLY)
    except OSError as exc:
        log.warning("cannot read embedded XMP of %s: %s", photo, exc.strerror or exc)
        return []
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return []
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as data:
            packets = _packets(data)
    except (OSError, ValueError) as exc:
        log.warning("cannot read embedded XMP of %s: %s", photo, exc)
        return []
    finally:
        os.close(fd)
    found: list[OwnerMetadata] = []
    for raw in packets:
        try:
            found.append(_from_packet(rdf.Packet.parse(raw)))
        except rdf.XmpFormatError as exc:
            log.warning("ignoring malformed embedded XMP in %s: %s", photo, exc)
    return found
