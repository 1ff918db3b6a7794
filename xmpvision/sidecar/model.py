"""A typed view of what a sidecar holds in the fields xmpvision reads or writes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from xmpvision.errors import SidecarError
from xmpvision.sidecar import provenance, rdf

DC_SUBJECT = rdf.qname("dc", "subject")
DC_DESCRIPTION = rdf.qname("dc", "description")
DC_TITLE = rdf.qname("dc", "title")
LR_HIERARCHICAL = rdf.qname("lr", "hierarchicalSubject")
DIGIKAM_TAGSLIST = rdf.qname("digiKam", "TagsList")
XMP_METADATA_DATE = rdf.qname("xmp", "MetadataDate")
PHOTOSHOP_CAPTION_WRITER = rdf.qname("photoshop", "CaptionWriter")

# The user's properties we read or write, and the value each must have to be merged.
FIELD_FORMS: dict[str, rdf.Form] = {
    DC_SUBJECT: "array",
    LR_HIERARCHICAL: "array",
    DIGIKAM_TAGSLIST: "array",
    DC_DESCRIPTION: "alt",
    PHOTOSHOP_CAPTION_WRITER: "text",
    XMP_METADATA_DATE: "text",
}
KEYWORD_FIELDS = (DC_SUBJECT, LR_HIERARCHICAL, DIGIKAM_TAGSLIST)

log = logging.getLogger(__name__)


def prepare(packet: rdf.Packet) -> None:
    """Bring the properties we touch into forms we can edit (nodeID references inlined), or
    raise rdf.UnsupportedRdf before anything is changed. Idempotent."""
    for tag, form in FIELD_FORMS.items():
        packet.normalize(tag, form)
    for tag in provenance.OWN_PROPERTIES:
        packet.normalize(tag, "any")  # ours, rebuilt on every write


def prepare_title(packet: rdf.Packet) -> None:
    """prepare() for dc:title, called only when a title is written, reset or ours: a sidecar
    whose title is in a form we cannot merge keeps getting keywords and captions."""
    packet.normalize(DC_TITLE, "alt")


@dataclass(frozen=True)
class SidecarState:
    """Keyword and caption fields of one sidecar, plus our provenance records."""

    subjects: tuple[str, ...]
    hierarchical: tuple[str, ...]
    tags_list: tuple[str, ...] | None  # None: the sidecar has no digiKam:TagsList
    description: tuple[tuple[str, str], ...]  # (lang, text), x-default usually first
    caption_writer: str | None
    metadata_date: str | None
    provenance: provenance.Provenance
    titles: tuple[tuple[str, str], ...] = ()  # dc:title's (lang, text) items

    @property
    def caption(self) -> str | None:
        """The x-default caption (the first item when none is marked x-default)."""
        return default_text(self.description)

    @property
    def title(self) -> str | None:
        """The x-default title (the first item when none is marked x-default)."""
        return default_text(self.titles)


def default_text(items: tuple[tuple[str, str], ...]) -> str | None:
    for lang, text in items:
        if lang.lower() == "x-default":
            return text
    return items[0][1] if items else None


def state_of(packet: rdf.Packet) -> SidecarState:
    def items(tag: str) -> tuple[str, ...]:
        node = packet.get(tag)
        return () if node is None else tuple(rdf.node_items(node))

    tags_node = packet.get(DIGIKAM_TAGSLIST)
    description_node = packet.get(DC_DESCRIPTION)
    title_node = packet.get(DC_TITLE)
    writer = packet.get(PHOTOSHOP_CAPTION_WRITER)
    date = packet.get(XMP_METADATA_DATE)
    return SidecarState(
        subjects=items(DC_SUBJECT),
        hierarchical=items(LR_HIERARCHICAL),
        tags_list=None if tags_node is None else tuple(rdf.node_items(tags_node)),
        description=()
        if description_node is None
        else tuple(rdf.node_lang_alt(description_node)),
        caption_writer=None if writer is None else rdf.node_text(writer),
        metadata_date=None if date is None else rdf.node_text(date),
        provenance=provenance.read_provenance(packet),
        titles=() if title_node is None else tuple(rdf.node_lang_alt(title_node)),
    )


def unsupported(path: Path, exc: rdf.UnsupportedRdf) -> SidecarError:
    return SidecarError(path, f"{exc}; left untouched")


def parse_sidecar(path: Path, data: bytes) -> rdf.Packet:
    """Parse sidecar bytes and prepare() them; a corrupt or non-XMP file, or one whose fields
    are in a form we cannot merge, raises SidecarError (path, reason)."""
    if not data.strip():
        raise SidecarError(path, "empty file")
    try:
        packet = rdf.Packet.parse(data)
        prepare(packet)
    except rdf.UnsupportedRdf as exc:
        raise unsupported(path, exc) from None
    except rdf.XmpFormatError as exc:
        raise SidecarError(path, f"not a valid XMP sidecar ({exc})") from None
    return packet


def read_sidecar(path: Path) -> SidecarState:
    """Read a sidecar's keyword/caption fields and our provenance (for callers and tests)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SidecarError(path, f"cannot read: {exc.strerror or exc}") from None
    packet = parse_sidecar(path, data)
    try:
        prepare_title(packet)  # inlines references so the title reads right; only read here
    except rdf.UnsupportedRdf as exc:
        log.info("%s: dc:title read as it is (%s)", path, exc)
    return state_of(packet)


def read_sidecar_keywords(path: Path) -> list[str]:
    return list(read_sidecar(path).subjects)
