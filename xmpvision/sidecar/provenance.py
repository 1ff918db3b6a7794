"""The private `xmpvision:` namespace: what we wrote, so that we can tell later what is ours.

Namespace URI `https://xmpvision.org/ns/1.0/`, prefix `xmpvision`. Top-level properties:

- `xmpvision:Keywords` (Bag of structs): one item per keyword we wrote for one photo.
- `xmpvision:RejectedKeywords` (Bag of Text): keywords the user removed; never added again.
- One struct per text type (modeltypes.py names it): the text we wrote. `xmpvision:Caption`
  for the caption (with captionWriter), `xmpvision:TitleRecord` for the title.

We own these properties entirely, so they are rebuilt from the typed records on every write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from xmpvision import modeltypes
from xmpvision.modeltypes import ModelTypeRow
from xmpvision.sidecar import rdf
from xmpvision.sources import DEFAULT_SOURCE

NS_URI = rdf.PREFIXES["xmpvision"]
PREFIX = "xmpvision"

KEYWORDS = rdf.qname(PREFIX, "Keywords")
REJECTED = rdf.qname(PREFIX, "RejectedKeywords")
# Our record of each text type's value, by type.
TEXT_RECORDS = {row.name: rdf.qname(PREFIX, row.record) for row in modeltypes.TEXT_TYPES}
OWN_PROPERTIES = (KEYWORDS, REJECTED, *TEXT_RECORDS.values())

# Field names of keyword records that say which keyword properties we added the value to.
FIELD_SUBJECT = "subject"
FIELD_HIERARCHICAL = "hierarchicalSubject"
FIELD_TAGSLIST = "TagsList"


def _f(local: str) -> str:
    return rdf.qname(PREFIX, local)


def text_hash(text: str) -> str:
    """What we record of a caption's text; whitespace at the ends does not count as an edit."""
    return "sha256:" + hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeywordRecord:
    name: str  # exactly as written to dc:subject
    source: str
    engine: str
    model: str
    confidence: float
    generated_at: str  # ISO 8601 with offset
    photo: str  # file name of the photo it was generated for (RAW+JPEG may share a sidecar)
    fields: tuple[str, ...] = ()  # keyword properties we added it to (subject, ...)
    topicality: float | None = None
    # Exactly what we wrote to lr:hierarchicalSubject / digiKam:TagsList ("AI|Animal|Cat",
    # "AI/Animal/Cat"); set exactly when that field is in `fields`.
    hierarchical_path: str | None = None
    tags_list_path: str | None = None

    def written(self) -> tuple[tuple[str, str], ...]:
        """(field, value) of every keyword property item this record claims."""
        values = {FIELD_SUBJECT: self.name, FIELD_HIERARCHICAL: self.hierarchical_path,
                  FIELD_TAGSLIST: self.tags_list_path}
        return tuple((name, value) for name, value in values.items()
                     if name in self.fields and value is not None)


@dataclass(frozen=True)
class TextRecord:
    """A Lang Alt text we wrote (a text type's property: dc:description, dc:title, ...)."""

    text_hash: str
    source: str
    engine: str
    model: str
    confidence: float
    generated_at: str
    photo: str
    langs: tuple[str, ...]  # Lang Alt items we wrote, x-default first
    language: str | None = None
    previous: tuple[tuple[str, str], ...] = ()  # (lang, text) items we replaced, to restore
    # We filled an empty photoshop:CaptionWriter (only a type whose row says so).
    set_caption_writer: bool = False


@dataclass
class Provenance:
    keywords: list[KeywordRecord] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    texts: dict[str, TextRecord] = field(default_factory=dict)  # text type -> our record

    @property
    def caption(self) -> TextRecord | None:
        return self.texts.get("caption")

    @property
    def title(self) -> TextRecord | None:
        return self.texts.get("title")


# ---- reading --------------------------------------------------------------------------------


def _text(fields: dict[str, rdf.Node], local: str, default: str = "") -> str:
    node = fields.get(_f(local))
    return default if node is None else rdf.node_text(node).strip()


def _float(fields: dict[str, rdf.Node], local: str) -> float | None:
    try:
        return float(_text(fields, local))
    except ValueError:
        return None


def _items(fields: dict[str, rdf.Node], local: str) -> tuple[str, ...]:
    node = fields.get(_f(local))
    return () if node is None else tuple(item.strip() for item in rdf.node_items(node))


def _path(fields: dict[str, rdf.Node], local: str, name: str, written: bool) -> str | None:
    # Records from before paths were kept wrote the bare name wherever they wrote.
    return (_text(fields, local) or name) if written else None


def _keyword(node: rdf.Node) -> KeywordRecord | None:
    fields = rdf.struct_fields(node)
    name = _text(fields, "name")
    if not name:
        return None
    written = _items(fields, "fields")
    return KeywordRecord(
        name=name,
        **_origin(fields),
        fields=written,
        topicality=_float(fields, "topicality"),
        hierarchical_path=_path(fields, "hierarchicalPath", name, FIELD_HIERARCHICAL in written),
        tags_list_path=_path(fields, "tagsListPath", name, FIELD_TAGSLIST in written),
    )


def _origin(fields: dict[str, rdf.Node]) -> dict[str, Any]:
    """Who wrote a value and when: the fields every record has."""
    return {
        "source": _text(fields, "source", DEFAULT_SOURCE).lower(),
        "engine": _text(fields, "engine"),
        "model": _text(fields, "model"),
        "confidence": _float(fields, "confidence") or 0.0,
        "generated_at": _text(fields, "generatedAt"),
        "photo": _text(fields, "photo"),
    }


def _text_record(node: rdf.Node, row: ModelTypeRow) -> TextRecord | None:
    fields = rdf.struct_fields(node)
    digest = _text(fields, "textHash")
    if not digest:
        return None
    previous_node = fields.get(_f("previous"))
    previous = () if previous_node is None else tuple(rdf.node_lang_alt(previous_node))
    return TextRecord(
        text_hash=digest,
        **_origin(fields),
        langs=_items(fields, "langs") or ("x-default",),
        language=_text(fields, "language") or None,
        previous=previous,
        set_caption_writer=row.caption_writer
        and _text(fields, "captionWriter").lower() == "true",
    )


def _array_nodes(node: rdf.Node) -> list[etree._Element]:
    if isinstance(node, str):
        return []
    container = rdf.container_of(node)
    return [] if container is None else [li for li in container if li.tag == rdf.RDF_LI]


def read_provenance(packet: rdf.Packet) -> Provenance:
    """Our records in the packet; malformed items (e.g. hand-edited) are ignored."""
    result = Provenance()
    node = packet.get(KEYWORDS)
    if node is not None:
        for li in _array_nodes(node):
            record = _keyword(li)
            if record is not None:
                result.keywords.append(record)
    node = packet.get(REJECTED)
    if node is not None:
        result.rejected = [item for item in rdf.node_items(node) if item.strip()]
    for row in modeltypes.TEXT_TYPES:
        node = packet.get(TEXT_RECORDS[row.name])
        text = None if node is None else _text_record(node, row)
        if text is not None:
            result.texts[row.name] = text
    return result


# ---- writing --------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def _add_text(parent: etree._Element, local: str, value: str) -> None:
    rdf.new_child(parent, _f(local)).text = value


def _add_bag(parent: etree._Element, local: str, values: tuple[str, ...]) -> None:
    bag = rdf.new_child(rdf.new_child(parent, _f(local)), f"{{{rdf.RDF_NS}}}Bag")
    for value in values:
        rdf.append_li(bag, value)


def _resource(parent: etree._Element) -> None:
    parent.set(rdf.RDF_PARSE_TYPE, "Resource")


def _write_keyword(bag: etree._Element, record: KeywordRecord) -> None:
    li = rdf.new_child(bag, rdf.RDF_LI)
    _resource(li)
    _add_text(li, "name", record.name)
    _add_text(li, "source", record.source)
    _add_text(li, "engine", record.engine)
    _add_text(li, "model", record.model)
    _add_text(li, "confidence", _number(record.confidence))
    if record.topicality is not None:
        _add_text(li, "topicality", _number(record.topicality))
    _add_text(li, "generatedAt", record.generated_at)
    _add_text(li, "photo", record.photo)
    _add_bag(li, "fields", record.fields)
    if record.hierarchical_path is not None:
        _add_text(li, "hierarchicalPath", record.hierarchical_path)
    if record.tags_list_path is not None:
        _add_text(li, "tagsListPath", record.tags_list_path)


def _write_text_record(parent: etree._Element, record: TextRecord, row: ModelTypeRow) -> None:
    _resource(parent)
    _add_text(parent, "textHash", record.text_hash)
    _add_text(parent, "source", record.source)
    _add_text(parent, "engine", record.engine)
    _add_text(parent, "model", record.model)
    _add_text(parent, "confidence", _number(record.confidence))
    if record.language:
        _add_text(parent, "language", record.language)
    _add_text(parent, "generatedAt", record.generated_at)
    _add_text(parent, "photo", record.photo)
    _add_bag(parent, "langs", record.langs)
    if row.caption_writer:
        _add_text(parent, "captionWriter", "True" if record.set_caption_writer else "False")
    if record.previous:
        alt = rdf.new_child(rdf.new_child(parent, _f("previous")), f"{{{rdf.RDF_NS}}}Alt")
        for lang, text in record.previous:
            rdf.append_li(alt, text, lang)


def write_provenance(packet: rdf.Packet, provenance: Provenance) -> None:
    """Replace our properties in the packet with `provenance` (empty parts are omitted)."""
    host: etree._Element | None = None
    for tag in OWN_PROPERTIES:
        while (prop := packet.find(tag)) is not None:
            host = host if host is not None else prop.description
            packet.remove(tag)
    if not (provenance.keywords or provenance.rejected or provenance.texts):
        return
    host = host if host is not None else packet.host()
    if provenance.keywords:
        bag = rdf.new_child(rdf.new_child(host, KEYWORDS), f"{{{rdf.RDF_NS}}}Bag")
        for record in provenance.keywords:
            _write_keyword(bag, record)
    if provenance.rejected:
        bag = rdf.new_child(rdf.new_child(host, REJECTED), f"{{{rdf.RDF_NS}}}Bag")
        for name in provenance.rejected:
            rdf.append_li(bag, name)
    for row in modeltypes.TEXT_TYPES:
        text = provenance.texts.get(row.name)
        if text is not None:
            _write_text_record(rdf.new_child(host, TEXT_RECORDS[row.name]), text, row)
