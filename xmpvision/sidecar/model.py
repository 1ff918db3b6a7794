"""A typed view of what a sidecar holds in the fields xmpvision reads or writes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xmpvision import modeltypes
from xmpvision.errors import SidecarError
from xmpvision.people import people_in_tree, tagged_people, unique_names
from xmpvision.sidecar import provenance, rdf
from xmpvision.sidecar.paths import existing_sidecar
from xmpvision.sidecar.writer import read_current

DC_SUBJECT = rdf.qname("dc", "subject")
LR_HIERARCHICAL = rdf.qname("lr", "hierarchicalSubject")
DIGIKAM_TAGSLIST = rdf.qname("digiKam", "TagsList")
XMP_METADATA_DATE = rdf.qname("xmp", "MetadataDate")
PHOTOSHOP_CAPTION_WRITER = rdf.qname("photoshop", "CaptionWriter")
# Each text type's Lang Alt property (modeltypes.py says which).
TEXT_FIELDS: dict[str, str] = {
    row.name: rdf.qname(row.field.prefix, row.field.local) for row in modeltypes.TEXT_TYPES
}

# The user's properties we read or write, and the value each must have to be merged.
FIELD_FORMS: dict[str, rdf.Form] = {
    DC_SUBJECT: "array",
    LR_HIERARCHICAL: "array",
    DIGIKAM_TAGSLIST: "array",
    **{TEXT_FIELDS[row.name]: "alt" for row in modeltypes.TEXT_TYPES if row.strict},
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


def prepare_texts(packet: rdf.Packet, types: Iterable[str]) -> None:
    """prepare() for the Lang Alt of text types that are not strict (dc:title), called only
    when a value of the type is written, reset or ours: a sidecar whose title is in a form we
    cannot merge keeps getting keywords and captions."""
    for name in types:
        if not modeltypes.row(name).strict:
            packet.normalize(TEXT_FIELDS[name], "alt")


@dataclass(frozen=True)
class SidecarState:
    """Keyword and text fields of one sidecar, plus our provenance records."""

    subjects: tuple[str, ...]
    hierarchical: tuple[str, ...]
    tags_list: tuple[str, ...] | None  # None: the sidecar has no digiKam:TagsList
    caption_writer: str | None
    metadata_date: str | None
    provenance: provenance.Provenance
    # text type -> its property's (lang, text) items, x-default usually first
    alts: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def text(self, model_type: str) -> str | None:
        """The type's x-default text (the first item when none is marked x-default)."""
        return default_text(self.alts.get(model_type, ()))

    @property
    def description(self) -> tuple[tuple[str, str], ...]:
        return self.alts.get("caption", ())

    @property
    def titles(self) -> tuple[tuple[str, str], ...]:
        return self.alts.get("title", ())

    @property
    def caption(self) -> str | None:
        return self.text("caption")

    @property
    def title(self) -> str | None:
        return self.text("title")


def default_text(items: tuple[tuple[str, str], ...]) -> str | None:
    for lang, text in items:
        if lang.lower() == "x-default":
            return text
    return items[0][1] if items else None


def state_of(packet: rdf.Packet) -> SidecarState:
    def items(tag: str) -> tuple[str, ...]:
        node = packet.get(tag)
        return () if node is None else tuple(rdf.node_items(node))

    def alt(tag: str) -> tuple[tuple[str, str], ...]:
        node = packet.get(tag)
        return () if node is None else tuple(rdf.node_lang_alt(node))

    tags_node = packet.get(DIGIKAM_TAGSLIST)
    writer = packet.get(PHOTOSHOP_CAPTION_WRITER)
    date = packet.get(XMP_METADATA_DATE)
    return SidecarState(
        subjects=items(DC_SUBJECT),
        hierarchical=items(LR_HIERARCHICAL),
        tags_list=None if tags_node is None else tuple(rdf.node_items(tags_node)),
        caption_writer=None if writer is None else rdf.node_text(writer),
        metadata_date=None if date is None else rdf.node_text(date),
        provenance=provenance.read_provenance(packet),
        alts={name: alt(tag) for name, tag in TEXT_FIELDS.items()},
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
    for row in modeltypes.TEXT_TYPES:
        try:
            prepare_texts(packet, (row.name,))  # inlines references so it reads right
        except rdf.UnsupportedRdf as exc:
            log.info("%s: %s:%s read as it is (%s)", path, row.field.prefix, row.field.local, exc)
    return state_of(packet)


def read_sidecar_keywords(path: Path) -> list[str]:
    return list(read_sidecar(path).subjects)


def people_in_sidecar(path: Path) -> tuple[str, ...]:
    """The people the owner named in a sidecar (people.py); none when it cannot be read."""
    try:
        data = read_current(path)  # a symbolic link is not followed, a FIFO not opened
        if data is None:
            return ()
        packet = rdf.Packet.parse(data)
        state = state_of(packet)
    except (SidecarError, rdf.XmpFormatError) as exc:
        log.debug("no people from %s: %s", path, exc)
        return ()
    tagged = tagged_people((*state.hierarchical, *(state.tags_list or ())))
    return unique_names((*people_in_tree(packet.tree.getroot()), *tagged))


def named_people(photo: Path) -> tuple[str, ...]:
    """The people the owner named in `photo`'s sidecar, if it has one."""
    sidecar = existing_sidecar(photo)
    return () if sidecar is None else people_in_sidecar(sidecar)
