"""Ownership rules: merge a result into a parsed sidecar, or take our values out again.

Pure functions over an in-memory packet (no I/O), so the writer can re-run them when the file
changed under us. The rules (SPEC §4, PhotoPrism's source priorities):

- A value is ours only while our provenance record says we wrote it and it is unchanged.
  Everything else is the user's and is never changed or removed (captions: see below).
- A keyword we wrote that is no longer in dc:subject was removed by the user: it moves to
  xmpvision:RejectedKeywords and is never added again (not even with --force).
- A caption we wrote whose text differs from the recorded hash was edited: it becomes the
  user's (source `xmp`, priority 32).
- Labels: a regenerate for photo P replaces our keywords of P whose source priority is <= the
  run's (any of ours with --force); ours of a higher source stay. A new keyword is skipped when
  the user, the photo's embedded XMP, or the other photo of a RAW+JPEG pair sharing the sidecar
  already has it (the latter just adds a record, so each photo's regenerate only retracts its
  own). Comparisons ignore case.
- Caption: written only if its priority >= the current caption's (ours: its source; user's:
  `xmp`) and (there is no caption, or --force). Replaced items are kept in our record and put
  back by `vision reset`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from xmpvision.results import Caption, Label, PhotoResult
from xmpvision.sidecar import rdf
from xmpvision.sidecar.model import (
    DC_DESCRIPTION,
    DC_SUBJECT,
    DIGIKAM_TAGSLIST,
    LR_HIERARCHICAL,
    PHOTOSHOP_CAPTION_WRITER,
    XMP_METADATA_DATE,
)
from xmpvision.sidecar.provenance import (
    FIELD_HIERARCHICAL,
    FIELD_SUBJECT,
    FIELD_TAGSLIST,
    CaptionRecord,
    KeywordRecord,
    Provenance,
    read_provenance,
    text_hash,
    write_provenance,
)
from xmpvision.sources import (
    DEFAULT_SOURCE,
    SOURCE_PRIORITY,
    USER_SOURCE,
    normalize_source,
    source_priority,
)
from xmpvision.text.languages import xml_lang
from xmpvision.text.untrusted import xml_caption, xml_keyword

log = logging.getLogger(__name__)

CAPTION_WRITER = "xmpvision"
_FIELD_TAGS = {
    FIELD_SUBJECT: (DC_SUBJECT, "Bag", True),
    FIELD_HIERARCHICAL: (LR_HIERARCHICAL, "Bag", True),
    FIELD_TAGSLIST: (DIGIKAM_TAGSLIST, "Seq", False),
}


@dataclass
class MergeOutcome:
    """What a merge did to the packet; `changed` means it must be written."""

    changed: bool = False
    keywords_added: list[str] = field(default_factory=list)
    keywords_removed: list[str] = field(default_factory=list)
    caption_added: str | None = None
    caption_removed: str | None = None
    caption_source: str | None = None  # of the caption in the file afterwards; "xmp": user's
    notes: list[str] = field(default_factory=list)


def _record_priority(source: str) -> int:
    # A record with a source we do not know (hand-edited) is treated like a user value.
    return SOURCE_PRIORITY.get(source.strip().lower(), SOURCE_PRIORITY[USER_SOURCE])


def _fold(text: str) -> str:
    return text.strip().casefold()


# ---- field editing --------------------------------------------------------------------------


def _find_li(container: etree._Element, text: str) -> etree._Element | None:
    items = [li for li in container if li.tag == rdf.RDF_LI]
    for li in items:
        if rdf.li_text(li) == text:
            return li
    for li in items:
        if _fold(rdf.li_text(li)) == _fold(text):
            return li
    return None


def _remove_keyword(packet: rdf.Packet, name: str, fields: Iterable[str]) -> None:
    for field_name in fields:
        if field_name not in _FIELD_TAGS or packet.find(_FIELD_TAGS[field_name][0]) is None:
            continue
        tag, kind, convert = _FIELD_TAGS[field_name]
        container = packet.array(tag, kind, convert=convert)  # type: ignore[arg-type]
        li = _find_li(container, name)
        if li is not None:
            rdf.remove_child(li)
        if convert and not any(child.tag == rdf.RDF_LI for child in container):
            packet.remove(tag)  # an empty Bag we emptied carries nothing of the user's


def _add_keyword(packet: rdf.Packet, name: str) -> tuple[str, ...]:
    """Add a keyword to dc:subject, lr:hierarchicalSubject and an existing TagsList."""
    added = []
    for field_name, (tag, kind, convert) in _FIELD_TAGS.items():
        node = packet.get(tag)
        if field_name == FIELD_TAGSLIST and node is None:
            continue
        present = node is not None and any(
            _fold(item) == _fold(name) for item in rdf.node_items(node)
        )
        if not present:
            rdf.append_li(packet.array(tag, kind, convert=convert), name)  # type: ignore[arg-type]
            added.append(field_name)
    return tuple(added)


def _leaf(item: str) -> str:
    return item.replace("/", "|").rsplit("|", 1)[-1]


def _present_keywords(packet: rdf.Packet, ours: set[str]) -> set[str]:
    """Case-folded keywords in the sidecar that are not ours, including hierarchy leaves."""
    present: set[str] = set()
    for tag in (DC_SUBJECT, LR_HIERARCHICAL, DIGIKAM_TAGSLIST):
        node = packet.get(tag)
        if node is None:
            continue
        for item in rdf.node_items(node):
            if _fold(item) not in ours:
                present.add(_fold(_leaf(item) if tag != DC_SUBJECT else item))
    return present


# ---- reconciling with what the user did since our last write -------------------------------


def reconcile(packet: rdf.Packet, prov: Provenance, notes: list[str]) -> None:
    """Turn values the user removed or edited into theirs (mutates `prov`)."""
    node = packet.get(DC_SUBJECT)
    subjects = {_fold(item) for item in rdf.node_items(node)} if node is not None else set()
    rejected = {_fold(name) for name in prov.rejected}
    kept: list[KeywordRecord] = []
    for record in prov.keywords:
        if _fold(record.name) in subjects:
            kept.append(record)
        elif _fold(record.name) not in rejected:
            rejected.add(_fold(record.name))
            prov.rejected.append(record.name)
            notes.append(f"keyword {record.name!r} was removed by the user; not added again")
    prov.keywords = kept
    if prov.caption is not None and _caption_edited(packet, prov.caption):
        notes.append("caption was edited by the user; it is theirs now")
        prov.caption = None


def _description_items(packet: rdf.Packet) -> list[tuple[str, str]]:
    node = packet.get(DC_DESCRIPTION)
    return [] if node is None else rdf.node_lang_alt(node)


def _caption_edited(packet: rdf.Packet, record: CaptionRecord) -> bool:
    items = {lang.lower(): text for lang, text in _description_items(packet)}
    return any(
        lang.lower() not in items or text_hash(items[lang.lower()]) != record.text_hash
        for lang in record.langs
    )


def _current_caption(packet: rdf.Packet) -> str | None:
    items = _description_items(packet)
    for lang, text in items:
        if lang.lower() == "x-default":
            return text if text.strip() else None
    return items[0][1] if items and items[0][1].strip() else None


# ---- caption editing ------------------------------------------------------------------------


def _alt(packet: rdf.Packet) -> etree._Element:
    return packet.array(DC_DESCRIPTION, "Alt", convert=False)


def _lang_li(alt: etree._Element, lang: str) -> etree._Element | None:
    for li in alt:
        if li.tag == rdf.RDF_LI and li.get(rdf.XML_LANG, "x-default").lower() == lang.lower():
            return li
    return None


def _put_lang(alt: etree._Element, lang: str, text: str) -> None:
    old = _lang_li(alt, lang)
    index = 0 if lang.lower() == "x-default" else None
    if old is not None:
        index = list(alt).index(old)
        rdf.remove_child(old)
    li = rdf.new_child(alt, rdf.RDF_LI, index)
    li.set(rdf.XML_LANG, lang)
    li.text = text


def _retract_caption(packet: rdf.Packet, record: CaptionRecord) -> None:
    """Remove the caption items we wrote and put back what they replaced."""
    if packet.find(DC_DESCRIPTION) is not None:
        alt = _alt(packet)
        for lang in record.langs:
            li = _lang_li(alt, lang)
            if li is not None:
                rdf.remove_child(li)
        for lang, text in record.previous:
            if _lang_li(alt, lang) is None:
                _put_lang(alt, lang, text)
        if not any(child.tag == rdf.RDF_LI for child in alt):
            packet.remove(DC_DESCRIPTION)
    writer = packet.get(PHOTOSHOP_CAPTION_WRITER)
    if (
        record.set_caption_writer
        and writer is not None
        and rdf.node_text(writer) == CAPTION_WRITER
    ):
        packet.remove(PHOTOSHOP_CAPTION_WRITER)


def _write_caption(
    packet: rdf.Packet, caption: Caption, text: str, photo: str, now: str
) -> CaptionRecord:
    language = xml_lang(caption.language)
    langs = ("x-default", language) if language else ("x-default",)
    current = {lang.lower(): (lang, value) for lang, value in _description_items(packet)}
    previous = tuple(current[lang.lower()] for lang in langs if lang.lower() in current)
    alt = _alt(packet)
    for lang in langs:
        _put_lang(alt, lang, text)
    writer = packet.get(PHOTOSHOP_CAPTION_WRITER)
    set_writer = writer is None or not rdf.node_text(writer).strip()
    if set_writer:
        packet.set_text(PHOTOSHOP_CAPTION_WRITER, CAPTION_WRITER)
    return CaptionRecord(
        text_hash=text_hash(text),
        source=normalize_source(caption.source),
        engine=caption.engine,
        model=caption.model,
        confidence=caption.confidence,
        generated_at=now,
        photo=photo,
        langs=langs,
        language=language,
        set_caption_writer=set_writer,
        previous=previous,
    )


def _merge_caption(
    packet: rdf.Packet,
    prov: Provenance,
    caption: Caption,
    photo: str,
    force: bool,
    now: str,
    out: MergeOutcome,
) -> None:
    text = xml_caption(caption.text)
    if not text:
        out.notes.append("caption is empty after cleaning; nothing written")
        return
    record = prov.caption
    current = _current_caption(packet)
    if record is not None and record.text_hash == text_hash(text):
        return  # the same caption is already ours
    current_source = record.source if record is not None else (USER_SOURCE if current else None)
    current_priority = _record_priority(current_source) if current_source else 0
    new_priority = source_priority(caption.source)
    if new_priority < current_priority or (current is not None and not force):
        why = "use --force" if new_priority >= current_priority else "higher source priority"
        out.notes.append(f"caption kept: existing caption from {current_source} ({why})")
        return
    if record is not None:
        _retract_caption(packet, record)
    prov.caption = _write_caption(packet, caption, text, photo, now)
    out.caption_added = text
    out.caption_removed = current
    out.changed = True


# ---- labels ---------------------------------------------------------------------------------


def run_source(result: PhotoResult, override: str | None) -> str:
    """The source of this labels run: the override, else the labels', else the answering engine."""
    if override:
        return normalize_source(override)
    if result.labels:
        return max((normalize_source(label.source) for label in result.labels), key=source_priority)
    return normalize_source(result.sources.get("labels", DEFAULT_SOURCE))


def _new_labels(labels: list[Label]) -> dict[str, tuple[str, Label]]:
    best: dict[str, tuple[str, Label]] = {}
    for label in labels:
        name = xml_keyword(label.name)
        if not name:
            continue
        key = _fold(name)
        if key not in best or label.confidence > best[key][1].confidence:
            best[key] = (name, label)
    return best


def _record_for(name: str, label: Label, photo: str, now: str, fields: tuple[str, ...]) -> (
    KeywordRecord
):
    return KeywordRecord(
        name=name,
        source=normalize_source(label.source),
        engine=label.engine,
        model=label.model,
        confidence=round(label.confidence, 4),
        generated_at=now,
        photo=photo,
        fields=fields,
        topicality=round(label.topicality, 4) if label.topicality else None,
    )


def _same_origin(record: KeywordRecord, label: Label) -> bool:
    return (record.source, record.engine, record.model, record.confidence) == (
        normalize_source(label.source),
        label.engine,
        label.model,
        round(label.confidence, 4),
    )


def _merge_labels(
    packet: rdf.Packet,
    prov: Provenance,
    labels: list[Label],
    source: str,
    photo: str,
    embedded: set[str],
    force: bool,
    now: str,
    out: MergeOutcome,
) -> None:
    run_priority = source_priority(source)
    wanted = _new_labels(labels)
    ours = {_fold(record.name) for record in prov.keywords}
    blocked_by_user = _present_keywords(packet, ours) | embedded
    rejected = {_fold(name) for name in prov.rejected}
    others = [record for record in prov.keywords if record.photo != photo]
    kept: list[KeywordRecord] = []
    retracted: list[KeywordRecord] = []
    handled: set[str] = set()
    for record in (record for record in prov.keywords if record.photo == photo):
        key = _fold(record.name)
        replaceable = force or _record_priority(record.source) <= run_priority
        if key in wanted and key not in handled:
            handled.add(key)
            label = wanted[key][1]
            if replaceable and not _same_origin(record, label):
                record = _record_for(record.name, label, photo, now, record.fields)
                out.changed = True
            kept.append(record)
        elif replaceable:
            retracted.append(record)
        else:
            kept.append(record)
    for key, (name, label) in wanted.items():
        if key in handled:
            continue
        sibling = next((r for r in others if _fold(r.name) == key), None)
        if key in rejected:
            out.notes.append(f"keyword {name!r} skipped: the user removed it before")
        elif sibling is not None:
            kept.append(_record_for(sibling.name, label, photo, now, sibling.fields))
            out.changed = True
        elif key in blocked_by_user:
            out.notes.append(f"keyword {name!r} already present (user or embedded)")
        else:
            kept.append(_record_for(name, label, photo, now, _add_keyword(packet, name)))
            out.keywords_added.append(name)
            out.changed = True
    remaining = others + kept
    for record in retracted:
        out.changed = True
        if not any(_fold(r.name) == _fold(record.name) for r in remaining):
            _remove_keyword(packet, record.name, record.fields)
            out.keywords_removed.append(record.name)
    prov.keywords = remaining


# ---- entry points ---------------------------------------------------------------------------


def _finish(packet: rdf.Packet, prov: Provenance, now: str, out: MergeOutcome) -> MergeOutcome:
    if _current_caption(packet) is not None:
        out.caption_source = prov.caption.source if prov.caption else USER_SOURCE
    if out.changed:
        write_provenance(packet, prov)
        packet.set_text(XMP_METADATA_DATE, now)
    return out


def apply_update(
    packet: rdf.Packet,
    result: PhotoResult,
    *,
    photo: str,
    now: str,
    force: bool = False,
    source: str | None = None,
    embedded: set[str] | None = None,
) -> MergeOutcome:
    """Merge `result` for the photo named `photo` into `packet` (see the module rules)."""
    out = MergeOutcome()
    prov = read_provenance(packet)
    reconcile(packet, prov, out.notes)
    if result.labels is not None:
        _merge_labels(
            packet,
            prov,
            result.labels,
            run_source(result, source),
            photo,
            embedded or set(),
            force,
            now,
            out,
        )
    if result.caption is not None:
        _merge_caption(packet, prov, result.caption, photo, force, now, out)
    return _finish(packet, prov, now, out)


def apply_reset(
    packet: rdf.Packet, *, types: set[str], source: str, photo: str, now: str
) -> MergeOutcome:
    """Remove our values of `source` for `photo` ("labels" and/or "caption" in `types`)."""
    out = MergeOutcome()
    source = normalize_source(source)
    prov = read_provenance(packet)
    reconcile(packet, prov, out.notes)
    if "labels" in types:
        drop = [r for r in prov.keywords if r.photo == photo and r.source == source]
        remaining = [r for r in prov.keywords if r not in drop]
        for record in drop:
            out.changed = True
            if not any(_fold(r.name) == _fold(record.name) for r in remaining):
                _remove_keyword(packet, record.name, record.fields)
                out.keywords_removed.append(record.name)
        prov.keywords = remaining
    caption = prov.caption
    if (
        "caption" in types
        and caption is not None
        and (caption.photo, caption.source) == (photo, source)
    ):
        out.caption_removed = _current_caption(packet)
        _retract_caption(packet, caption)
        prov.caption = None
        out.caption_added = _current_caption(packet)  # a user caption we had replaced
        out.changed = True
    return _finish(packet, prov, now, out)


__all__ = ["MergeOutcome", "apply_reset", "apply_update", "reconcile", "run_source"]
