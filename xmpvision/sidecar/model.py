"""A typed view of what a sidecar holds in the fields xmpvision reads or writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xmpvision.errors import SidecarError
from xmpvision.sidecar import provenance, rdf

DC_SUBJECT = rdf.qname("dc", "subject")
DC_DESCRIPTION = rdf.qname("dc", "description")
LR_HIERARCHICAL = rdf.qname("lr", "hierarchicalSubject")
DIGIKAM_TAGSLIST = rdf.qname("digiKam", "TagsList")
XMP_METADATA_DATE = rdf.qname("xmp", "MetadataDate")
PHOTOSHOP_CAPTION_WRITER = rdf.qname("photoshop", "CaptionWriter")


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

    @property
    def caption(self) -> str | None:
        """The x-default caption (the first item when none is marked x-default)."""
        for lang, text in self.description:
            if lang.lower() == "x-default":
                return text
        return self.description[0][1] if self.description else None


def state_of(packet: rdf.Packet) -> SidecarState:
    def items(tag: str) -> tuple[str, ...]:
        node = packet.get(tag)
        return () if node is None else tuple(rdf.node_items(node))

    tags_node = packet.get(DIGIKAM_TAGSLIST)
    description_node = packet.get(DC_DESCRIPTION)
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
    )


def parse_sidecar(path: Path, data: bytes) -> rdf.Packet:
    """Parse sidecar bytes; a corrupt or non-XMP file raises SidecarError (path, reason)."""
    if not data.strip():
        raise SidecarError(path, "empty file")
    try:
        return rdf.Packet.parse(data)
    except rdf.XmpFormatError as exc:
        raise SidecarError(path, f"not a valid XMP sidecar ({exc})") from None


def read_sidecar(path: Path) -> SidecarState:
    """Read a sidecar's keyword/caption fields and our provenance (for callers and tests)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SidecarError(path, f"cannot read: {exc.strerror or exc}") from None
    return state_of(parse_sidecar(path, data))


def read_sidecar_keywords(path: Path) -> list[str]:
    return list(read_sidecar(path).subjects)
