"""Keywords already embedded in the photo's own XMP (read only, never written).

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
from pathlib import Path

from xmpvision.prepare.metadata import read_metadata
from xmpvision.sidecar import rdf
from xmpvision.sidecar.model import DC_SUBJECT, DIGIKAM_TAGSLIST, KEYWORD_FIELDS, LR_HIERARCHICAL

log = logging.getLogger(__name__)

_OPEN = (b"<x:xmpmeta", b"<x:xapmeta")
_MAX_PACKETS = 4


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


def keywords_in_packet(packet: rdf.Packet) -> set[str]:
    """Case-folded keywords of a packet: dc:subject plus the leaves of hierarchical tags."""
    for tag in KEYWORD_FIELDS:
        packet.normalize(tag, "any")  # inline rdf:nodeID references (raises UnsupportedRdf)
    names: set[str] = set()
    for tag, separator in ((DC_SUBJECT, None), (LR_HIERARCHICAL, "|"), (DIGIKAM_TAGSLIST, "/")):
        node = packet.get(tag)
        if node is None:
            continue
        for item in rdf.node_items(node):
            leaf = item.rsplit(separator, 1)[-1] if separator else item
            if leaf.strip():
                names.add(leaf.strip().casefold())
    return names


def embedded_keywords(photo: Path) -> set[str]:
    """Case-folded keywords the photo itself holds (its embedded XMP packets, and its IPTC and
    XMP as exiv2 reads them): the owner's, never repeated in the sidecar. Empty if none or
    unreadable."""
    owners = {word.casefold() for word in read_metadata(photo).keywords}
    return owners | _packet_keywords(photo)


def _packet_keywords(photo: Path) -> set[str]:
    try:
        fd = os.open(photo, os.O_RDONLY)
    except OSError as exc:
        log.warning("cannot read embedded XMP of %s: %s", photo, exc.strerror or exc)
        return set()
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return set()
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as data:
            packets = _packets(data)
    except (OSError, ValueError) as exc:
        log.warning("cannot read embedded XMP of %s: %s", photo, exc)
        return set()
    finally:
        os.close(fd)
    names: set[str] = set()
    for raw in packets:
        try:
            names |= keywords_in_packet(rdf.Packet.parse(raw))
        except rdf.XmpFormatError as exc:
            log.warning("ignoring malformed embedded XMP in %s: %s", photo, exc)
    return names
