"""Ownership rules: merge a result into a parsed sidecar, or take our values out again.

Pure functions over an in-memory packet (no I/O), so the writer can re-run them when the file
changed under us. The rules (README: What xmpvision writes into a sidecar; PhotoPrism's source
priorities):

- A value is ours only while our provenance record says we wrote it and it is unchanged.
  Everything else is the user's and is never changed or removed (captions: see below).
- A keyword we wrote that is gone from any keyword list it was written to (dc:subject, or its
  path from lr:hierarchicalSubject or digiKam:TagsList: what Lightroom's and digiKam's keyword
  trees show and delete) was removed by the user: our items in the other lists go too, and it
  moves to xmpvision:RejectedKeywords, never to be added again (not even with --force).
- A text (caption, title) we wrote whose text differs from the recorded hash was edited: it becomes
  the user's (source `xmp`, priority 32).
- Labels: a regenerate for photo P replaces our keywords of P whose source priority is <= the
  run's (any of ours with --force); ours of a higher source stay. A new keyword is skipped when
  the user, the photo's embedded XMP, or the other photo of a RAW+JPEG pair sharing the sidecar
  already has it (the latter just adds a record, so each photo's regenerate only retracts its
  own). Comparisons ignore case. dc:subject gets the keyword itself; lr:hierarchicalSubject
  and digiKam:TagsList get its path: the run's keyword parent, the label's categories, the
  keyword ("AI|Animal|Cat", "AI/Animal/Cat"). A keyword the run keeps whose path changed (a new
  parent) moves: our old path is taken out, the new one written.
- Text types (caption, title; modeltypes.py): written only if the priority >= the current
  value's (ours: its source; user's: `xmp`) and (there is no value, or --force). Replaced items
  are kept in our record and put back by `vision reset`. One path for every text type, its
  row saying which property, how the text is stored, and whether photoshop:CaptionWriter is
  filled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from lxml import etree

from xmpvision import modeltypes
from xmpvision.config.defaults import (
    DEFAULT_NEW_KEYWORDS,
    REVIEW_BRANCH,
    REVIEW_PARENT,
    NewKeywords,
)
from xmpvision.modeltypes import ModelTypeRow
from xmpvision.people import PEOPLE_BRANCH, people_in_tree
from xmpvision.results import GeneratedText, Label, PhotoResult
from xmpvision.sidecar import rdf
from xmpvision.sidecar.model import (
    DC_SUBJECT,
    DIGIKAM_TAGSLIST,
    LR_HIERARCHICAL,
    PHOTOSHOP_CAPTION_WRITER,
    TEXT_FIELDS,
    XMP_METADATA_DATE,
    prepare,
    prepare_texts,
)
from xmpvision.sidecar.provenance import (
    FIELD_HIERARCHICAL,
    FIELD_SUBJECT,
    FIELD_TAGSLIST,
    KeywordRecord,
    Provenance,
    TextRecord,
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
from xmpvision.text.untrusted import xml_keyword
from xmpvision.text.vocabulary import Vocabulary

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
    # Per text type: the x-default text now there, where we changed it; the one we replaced
    # or took out (None: there was none); the source of the text in the file afterwards
    # ("xmp": the user's; absent: no text).
    added: dict[str, str | None] = field(default_factory=dict)
    removed: dict[str, str | None] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _record_priority(source: str) -> int:
    # A record with a source we do not know (hand-edited) is treated like a user value.
    return SOURCE_PRIORITY.get(source.strip().lower(), SOURCE_PRIORITY[USER_SOURCE])


def _fold(text: str) -> str:
    return text.strip().casefold()


# ---- keyword fields -------------------------------------------------------------------------


def _find_li(container: etree._Element, text: str) -> etree._Element | None:
    items = [li for li in container if li.tag == rdf.RDF_LI]
    for li in items:
        if rdf.li_text(li) == text:
            return li
    for li in items:
        if _fold(rdf.li_text(li)) == _fold(text):
            return li
    return None


def _claimed(records: list[KeywordRecord], field_name: str, value: str) -> bool:
    """True if one of `records` claims `value` in the keyword property `field_name`."""
    return any(name == field_name and _fold(item) == _fold(value)
               for record in records for name, item in record.written())


def _remove_item(packet: rdf.Packet, field_name: str, value: str) -> None:
    tag, kind, convert = _FIELD_TAGS[field_name]
    if packet.find(tag) is None:
        return
    container = packet.array(tag, kind, convert=convert)  # type: ignore[arg-type]
    li = _find_li(container, value)
    if li is not None:
        rdf.remove_child(li)
    if convert:
        packet.remove_if_empty(tag)  # an empty Bag we emptied carries nothing of the user's


def _retract(packet: rdf.Packet, record: KeywordRecord, remaining: list[KeywordRecord]) -> bool:
    """Take out the items `record` claims that no remaining record claims; True when the keyword
    is gone (no remaining record has its name)."""
    for field_name, value in record.written():
        if not _claimed(remaining, field_name, value):
            _remove_item(packet, field_name, value)
    return not any(_fold(r.name) == _fold(record.name) for r in remaining)


def _place(packet: rdf.Packet, field_name: str, value: str, ours: list[KeywordRecord]) -> bool:
    """Add `value` to a keyword property (a TagsList only where one exists); True when it is
    ours afterwards: added now, or already there as another of our records' value."""
    tag, kind, convert = _FIELD_TAGS[field_name]
    node = packet.get(tag)
    if field_name == FIELD_TAGSLIST and node is None:
        return False
    if node is not None and any(_fold(item) == _fold(value) for item in rdf.node_items(node)):
        return _claimed(ours, field_name, value)
    rdf.append_li(packet.array(tag, kind, convert=convert), value)  # type: ignore[arg-type]
    return True


@dataclass(frozen=True)
class _Wanted:
    """A keyword the run produced, with where it goes."""

    name: str  # dc:subject
    label: Label
    hierarchical: str  # lr:hierarchicalSubject path, "|"-separated
    tags: str  # digiKam:TagsList path, "/"-separated

    def value(self, field_name: str) -> str:
        return {FIELD_SUBJECT: self.name, FIELD_HIERARCHICAL: self.hierarchical}.get(
            field_name, self.tags)


def _placed(record: KeywordRecord, values: dict[str, str]) -> KeywordRecord:
    fields = tuple(name for name in _FIELD_TAGS if name in values)
    return replace(record, fields=fields, hierarchical_path=values.get(FIELD_HIERARCHICAL),
                   tags_list_path=values.get(FIELD_TAGSLIST))


def _add_keyword(packet: rdf.Packet, wanted: _Wanted, ours: list[KeywordRecord]) -> dict[str, str]:
    """Write a keyword to dc:subject, lr:hierarchicalSubject and an existing TagsList; the
    values that are ours afterwards, by field."""
    values = {}
    for field_name in _FIELD_TAGS:
        value = wanted.value(field_name)
        if _place(packet, field_name, value, ours):
            values[field_name] = value
    return values


def _move(packet: rdf.Packet, record: KeywordRecord, wanted: _Wanted,
          others: list[KeywordRecord]) -> KeywordRecord:
    """`record` with its hierarchy paths moved to `wanted`'s (the parent or categories
    changed); its old paths leave the sidecar unless another record of ours has them too."""
    values = dict(record.written())
    for field_name in (FIELD_HIERARCHICAL, FIELD_TAGSLIST):
        old = values.get(field_name)
        if old is None or old == wanted.value(field_name):
            continue
        if not _claimed(others, field_name, old):
            _remove_item(packet, field_name, old)
        del values[field_name]
        if _place(packet, field_name, wanted.value(field_name), others):
            values[field_name] = wanted.value(field_name)
    return _placed(record, values)


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


def _folded_items(packet: rdf.Packet, tag: str) -> set[str]:
    node = packet.get(tag)
    return {_fold(item) for item in rdf.node_items(node)} if node is not None else set()


def _removed_by_user(record: KeywordRecord, present: dict[str, set[str]]) -> bool:
    """True when an item the record claims is gone from its keyword list: a keyword removed
    from dc:subject, a path from lr:hierarchicalSubject or digiKam:TagsList."""
    return any(_fold(value) not in present[name] for name, value in record.written())


def reconcile(packet: rdf.Packet, prov: Provenance, notes: list[str]) -> bool:
    """Turn values the user removed or edited into theirs (mutates `prov`). A keyword of ours
    removed from any keyword list is removed from all of them and never added again; True when
    that took items out of the packet."""
    present = {name: _folded_items(packet, tag) for name, (tag, _, _) in _FIELD_TAGS.items()}
    rejected = {_fold(name) for name in prov.rejected}
    kept = [r for r in prov.keywords if not _removed_by_user(r, present)]
    gone = [r for r in prov.keywords if _removed_by_user(r, present)]
    changed = False
    for record in gone:
        for field_name, value in record.written():
            if _fold(value) in present[field_name] and not _claimed(kept, field_name, value):
                _remove_item(packet, field_name, value)
                changed = True
        if _fold(record.name) not in rejected:
            rejected.add(_fold(record.name))
            prov.rejected.append(record.name)
            notes.append(f"keyword {record.name!r} was removed by the user; not added again")
    prov.keywords = kept
    for row in modeltypes.TEXT_TYPES:
        text = prov.texts.get(row.name)
        if text is not None and _edited(packet, TEXT_FIELDS[row.name], text):
            notes.append(f"{row.noun} was edited by the user; it is theirs now")
            del prov.texts[row.name]
    return changed


# ---- Lang Alt texts: the text types' properties (dc:description, dc:title) ------------------


def _alt_items(packet: rdf.Packet, tag: str) -> list[tuple[str, str]]:
    node = packet.get(tag)
    return [] if node is None else rdf.node_lang_alt(node)


def _edited(packet: rdf.Packet, tag: str, record: TextRecord) -> bool:
    items = {lang.lower(): text for lang, text in _alt_items(packet, tag)}
    return any(
        lang.lower() not in items or text_hash(items[lang.lower()]) != record.text_hash
        for lang in record.langs
    )


def _current_text(packet: rdf.Packet, tag: str) -> str | None:
    items = _alt_items(packet, tag)
    for lang, text in items:
        if lang.lower() == "x-default":
            return text if text.strip() else None
    return items[0][1] if items and items[0][1].strip() else None


def _alt(packet: rdf.Packet, tag: str) -> etree._Element:
    return packet.array(tag, "Alt", convert=False)


def _lang_li(alt: etree._Element, lang: str) -> etree._Element | None:
    for li in alt:
        if li.tag == rdf.RDF_LI and (rdf.item_lang(li) or "x-default").lower() == lang.lower():
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


def _retract_items(packet: rdf.Packet, tag: str, record: TextRecord) -> None:
    """Remove the Lang Alt items we wrote and put back what they replaced."""
    if packet.find(tag) is None:
        return
    alt = _alt(packet, tag)
    for lang in record.langs:
        li = _lang_li(alt, lang)
        if li is not None:
            rdf.remove_child(li)
    for lang, text in record.previous:
        if _lang_li(alt, lang) is None:
            _put_lang(alt, lang, text)
    packet.remove_if_empty(tag)


def _retract_text(packet: rdf.Packet, row: ModelTypeRow, record: TextRecord) -> None:
    """Remove the text items we wrote, put back what they replaced, and our CaptionWriter."""
    _retract_items(packet, TEXT_FIELDS[row.name], record)
    writer = packet.get(PHOTOSHOP_CAPTION_WRITER)
    if (
        record.set_caption_writer
        and writer is not None
        and rdf.node_text(writer) == CAPTION_WRITER
    ):
        if isinstance(writer, str) or rdf.is_plain_item(writer):
            packet.remove(PHOTOSHOP_CAPTION_WRITER)
        else:  # the user's qualifiers stay, with the empty value we found
            packet.set_text(PHOTOSHOP_CAPTION_WRITER, "")


def _langs(language: str | None) -> tuple[str, ...]:
    tag = xml_lang(language)
    return ("x-default", tag) if tag else ("x-default",)


def _qualified_items(packet: rdf.Packet, tag: str, langs: tuple[str, ...]) -> list[str]:
    """Languages among `langs` whose current item has qualifiers (a replaced item is recorded
    as text only, so replacing one would lose them)."""
    node = packet.get(tag)
    if node is None or isinstance(node, str):
        return []  # none, or attribute form: plain text
    container = rdf.value_container(node)
    if container is None:  # a single value, which becomes an item of its language
        lang = rdf.item_lang(node) or "x-default"
        wanted = lang.lower() in {other.lower() for other in langs}
        return [lang] if wanted and not rdf.is_plain_item(node) else []
    items = [_lang_li(container, lang) for lang in langs]
    return [lang for lang, li in zip(langs, items, strict=True)
            if li is not None and not rdf.is_plain_item(li)]


def _may_write(
    packet: rdf.Packet, tag: str, what: str, record: TextRecord | None, text: str,
    source: str, langs: tuple[str, ...], force: bool, notes: list[str],
) -> bool:
    """Whether a new text (`what`: "caption", ...) replaces the current one (module rules)."""
    if record is not None and record.text_hash == text_hash(text):
        return False  # the same text is already ours
    current = _current_text(packet, tag)
    current_source = record.source if record is not None else (USER_SOURCE if current else None)
    current_priority = _record_priority(current_source) if current_source else 0
    new_priority = source_priority(source)
    if new_priority < current_priority or (current is not None and not force):
        why = "use --force" if new_priority >= current_priority else "higher source priority"
        notes.append(f"{what} kept: existing {what} from {current_source} ({why})")
        return False
    qualified = _qualified_items(packet, tag, langs)
    if qualified:
        notes.append(f"{what} kept: the existing {', '.join(qualified)} {what} has "
                     "qualifiers, which replacing it would lose")
        return False
    return True


def _write_items(packet: rdf.Packet, tag: str, langs: tuple[str, ...], text: str) -> tuple[
    tuple[str, str], ...
]:
    """Write `text` under each of `langs`; the (lang, text) items it replaced."""
    current = {lang.lower(): (lang, value) for lang, value in _alt_items(packet, tag)}
    previous = tuple(current[lang.lower()] for lang in langs if lang.lower() in current)
    alt = _alt(packet, tag)
    for lang in langs:
        _put_lang(alt, lang, text)
    return previous


@dataclass(frozen=True)
class _TextRun:
    photo: str
    now: str
    force: bool


def _text_record(value: GeneratedText, text: str, photo: str, now: str,
                 previous: tuple[tuple[str, str], ...], set_writer: bool) -> TextRecord:
    return TextRecord(
        text_hash=text_hash(text),
        source=normalize_source(value.source),
        engine=value.engine,
        model=value.model,
        confidence=value.confidence,
        generated_at=now,
        photo=photo,
        langs=_langs(value.language),
        language=xml_lang(value.language),
        previous=previous,
        set_caption_writer=set_writer,
    )


def _merge_text(packet: rdf.Packet, prov: Provenance, row: ModelTypeRow, value: GeneratedText,
                run: _TextRun, out: MergeOutcome) -> None:
    """Write a text type's value as its row says (see the module rules)."""
    text = row.stored(value.text)
    if not text:
        out.notes.append(f"{row.noun} is empty after cleaning; nothing written")
        return
    tag = TEXT_FIELDS[row.name]
    langs = _langs(value.language)
    record = prov.texts.get(row.name)
    if not _may_write(packet, tag, row.noun, record, text, value.source, langs, run.force,
                      out.notes):
        return
    current = _current_text(packet, tag)
    if record is not None:
        _retract_text(packet, row, record)
    previous = _write_items(packet, tag, langs, text)
    set_writer = False
    if row.caption_writer:
        writer = packet.get(PHOTOSHOP_CAPTION_WRITER)
        set_writer = writer is None or not rdf.node_text(writer).strip()
        if set_writer:
            packet.set_text(PHOTOSHOP_CAPTION_WRITER, CAPTION_WRITER)
    prov.texts[row.name] = _text_record(value, text, run.photo, run.now, previous, set_writer)
    out.added[row.name] = text
    out.removed[row.name] = current
    out.changed = True


# ---- labels ---------------------------------------------------------------------------------


def run_source(result: PhotoResult, override: str | None) -> str:
    """The source of this labels run: the override, else the labels', else the answering engine."""
    if override:
        return normalize_source(override)
    if result.labels:
        return max((normalize_source(label.source) for label in result.labels), key=source_priority)
    return normalize_source(result.sources.get("labels", DEFAULT_SOURCE))


def _components(values: tuple[str, ...] | list[str]) -> list[str]:
    """Hierarchy levels cleaned like keywords, empty and repeated ones dropped."""
    kept: list[str] = []
    for value in values:
        name = xml_keyword(value)
        if name and _fold(name) not in {_fold(k) for k in kept}:
            kept.append(name)
    return kept


def parent_components(parent: str | None) -> list[str]:
    """The levels of a keyword parent; "|" or "/" in it nest ("Vision|AI")."""
    return _components((parent or "").replace("/", "|").split("|"))


def _new_labels(labels: list[Label], run: _LabelRun, out: MergeOutcome) -> dict[str, _Wanted]:
    best: dict[str, _Wanted] = {}
    for label in labels:
        name = xml_keyword(label.name)
        if not name:
            continue
        path = _vocabulary_path(name, label, run, out)
        if path is None:
            continue
        name = path[-1]
        key = _fold(name)
        if key in best and label.confidence <= best[key].label.confidence:
            continue
        best[key] = _Wanted(name, label, "|".join(path), "/".join(path))
    return best


def _vocabulary_path(name: str, label: Label, run: _LabelRun,
                     out: MergeOutcome) -> list[str] | None:
    """Where a keyword goes: the owner's term, in their spelling and place in their tree;
    else (a term new to them) under the parent and the label's categories, under the review
    branch, or nowhere (Keywords.New)."""
    vocabulary = run.vocabulary
    term = vocabulary.fold(name) if vocabulary else None
    if term is not None and _fold(term.path[0]) == PEOPLE_BRANCH:
        out.notes.append(f"keyword {name!r} left out: the owner's {'|'.join(term.path)!r} "
                         "names a person, which only the owner does")
        return None
    if term is not None:
        return _components(term.path) or None
    categories = [c for c in _components(label.categories) if _fold(c) != _fold(name)]
    if vocabulary and run.new == "deny":
        out.notes.append(f"keyword {name!r} left out: not in the vocabulary (Keywords.New: deny)")
        return None
    if vocabulary and run.new == "review":
        parent = run.parent or [REVIEW_PARENT]
        return [*_components([*parent, REVIEW_BRANCH, *categories]), name]
    return [*_components([*run.parent, *categories]), name]


def _record_for(name: str, label: Label, photo: str, now: str) -> KeywordRecord:
    return KeywordRecord(
        name=name,
        source=normalize_source(label.source),
        engine=label.engine,
        model=label.model,
        confidence=round(label.confidence, 4),
        generated_at=now,
        photo=photo,
        topicality=round(label.topicality, 4) if label.topicality else None,
    )


def _restamp(record: KeywordRecord, label: Label, photo: str, now: str) -> KeywordRecord:
    """`record`'s keyword and placement with `label`'s origin, for `photo`."""
    return _placed(_record_for(record.name, label, photo, now), dict(record.written()))


def _same_origin(record: KeywordRecord, label: Label) -> bool:
    return (record.source, record.engine, record.model, record.confidence) == (
        normalize_source(label.source),
        label.engine,
        label.model,
        round(label.confidence, 4),
    )


@dataclass(frozen=True)
class _LabelRun:
    source: str
    photo: str
    now: str
    force: bool
    embedded: set[str]
    parent: list[str]
    vocabulary: Vocabulary | None = None
    new: NewKeywords = DEFAULT_NEW_KEYWORDS

    def replaces(self, record: KeywordRecord) -> bool:
        return self.force or _record_priority(record.source) <= source_priority(self.source)


def _review_own(
    records: list[KeywordRecord], wanted: dict[str, _Wanted], run: _LabelRun, out: MergeOutcome
) -> tuple[list[KeywordRecord], list[KeywordRecord], dict[int, _Wanted]]:
    """Our records of this photo: (kept or updated, to retract, index in kept -> the keyword
    of the run a kept record stands for)."""
    kept: list[KeywordRecord] = []
    retracted: list[KeywordRecord] = []
    handled: dict[int, _Wanted] = {}
    done: set[str] = set()
    for record in records:
        key = _fold(record.name)
        replaceable = run.replaces(record)
        if key in wanted and key not in done:
            done.add(key)
            label = wanted[key].label
            if replaceable and not _same_origin(record, label):
                record = _restamp(record, label, run.photo, run.now)
                out.changed = True
            handled[len(kept)] = wanted[key]
            kept.append(record)
        elif replaceable:
            retracted.append(record)
        else:
            kept.append(record)
    return kept, retracted, handled


def _move_kept(packet: rdf.Packet, kept: list[KeywordRecord], handled: dict[int, _Wanted],
               run: _LabelRun, others: list[KeywordRecord], out: MergeOutcome) -> None:
    for index, wanted in handled.items():
        record = kept[index]
        if not run.replaces(record):
            continue  # a higher source's keyword stays where that run put it
        moved = _move(packet, record, wanted, others + kept[:index] + kept[index + 1:])
        if moved != record:
            kept[index] = moved
            out.notes.append(f"keyword {record.name!r} moved to {wanted.hierarchical!r}")
            out.changed = True


def _merge_labels(
    packet: rdf.Packet, prov: Provenance, labels: list[Label], run: _LabelRun, out: MergeOutcome
) -> None:
    wanted = _new_labels(labels, run, out)
    ours = {_fold(value) for record in prov.keywords for _, value in record.written()}
    blocked_by_user = _present_keywords(packet, ours | {_fold(r.name) for r in prov.keywords})
    blocked_by_user |= run.embedded
    # The people the owner named here: a caption may name them, a keyword of ours never does.
    blocked_by_user |= {name.casefold() for name in people_in_tree(packet.tree.getroot())}
    rejected = {_fold(name) for name in prov.rejected}
    others = [record for record in prov.keywords if record.photo != run.photo]
    mine = [record for record in prov.keywords if record.photo == run.photo]
    kept, retracted, handled = _review_own(mine, wanted, run, out)
    _move_kept(packet, kept, handled, run, others, out)
    done = {_fold(new.name) for new in handled.values()}
    for key, new in wanted.items():
        if key in done:
            continue
        sibling = next((r for r in others if _fold(r.name) == key), None)
        if key in rejected:
            out.notes.append(f"keyword {new.name!r} skipped: the user removed it before")
        elif sibling is not None:
            kept.append(_restamp(sibling, new.label, run.photo, run.now))
            out.changed = True
        elif key in blocked_by_user:
            out.notes.append(f"keyword {new.name!r} already present (user or embedded)")
        else:
            record = _record_for(new.name, new.label, run.photo, run.now)
            kept.append(_placed(record, _add_keyword(packet, new, others + kept)))
            out.keywords_added.append(new.name)
            out.changed = True
    remaining = others + kept
    for record in retracted:
        out.changed = True
        if _retract(packet, record, remaining):
            out.keywords_removed.append(record.name)
    prov.keywords = remaining


# ---- entry points ---------------------------------------------------------------------------


def _finish(packet: rdf.Packet, prov: Provenance, now: str, out: MergeOutcome) -> MergeOutcome:
    for name, tag in TEXT_FIELDS.items():
        if _current_text(packet, tag) is not None:
            record = prov.texts.get(name)
            out.sources[name] = record.source if record is not None else USER_SOURCE
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
    keyword_parent: str | None = None,
    vocabulary: Vocabulary | None = None,
    new: NewKeywords = DEFAULT_NEW_KEYWORDS,
) -> MergeOutcome:
    """Merge `result` for the photo named `photo` into `packet` (see the module rules)."""
    out = MergeOutcome()
    prepare(packet)
    prov = read_provenance(packet)
    prepare_texts(packet, {*result.texts, *prov.texts})
    out.changed = reconcile(packet, prov, out.notes)
    if result.labels is not None:
        run = _LabelRun(source=run_source(result, source), photo=photo, now=now, force=force,
                        embedded=embedded or set(), parent=parent_components(keyword_parent),
                        vocabulary=vocabulary, new=new)
        _merge_labels(packet, prov, result.labels, run, out)
    for row in modeltypes.TEXT_TYPES:
        value = result.texts.get(row.name)
        if value is not None:
            _merge_text(packet, prov, row, value, _TextRun(photo, now, force), out)
    return _finish(packet, prov, now, out)


def _ours_to_reset(record: TextRecord, photo: str, source: str) -> bool:
    return (record.photo, record.source) == (photo, source)


def apply_reset(
    packet: rdf.Packet, *, types: set[str], source: str, photo: str, now: str
) -> MergeOutcome:
    """Remove our values of `source` for `photo` of the types in `types` (modeltypes)."""
    out = MergeOutcome()
    source = normalize_source(source)
    prepare(packet)
    prov = read_provenance(packet)
    prepare_texts(packet, prov.texts)
    out.changed = reconcile(packet, prov, out.notes)
    if modeltypes.LABELS.name in types:
        drop = [r for r in prov.keywords if r.photo == photo and r.source == source]
        remaining = [r for r in prov.keywords if r not in drop]
        for record in drop:
            out.changed = True
            if _retract(packet, record, remaining):
                out.keywords_removed.append(record.name)
        prov.keywords = remaining
    for row in modeltypes.TEXT_TYPES:
        ours = prov.texts.get(row.name)
        if ours is None or row.name not in types or not _ours_to_reset(ours, photo, source):
            continue
        tag = TEXT_FIELDS[row.name]
        out.removed[row.name] = _current_text(packet, tag)
        _retract_text(packet, row, ours)
        del prov.texts[row.name]
        out.added[row.name] = _current_text(packet, tag)  # a user text we had replaced
        out.changed = True
    return _finish(packet, prov, now, out)


__all__ = ["MergeOutcome", "apply_reset", "apply_update", "reconcile", "run_source"]
