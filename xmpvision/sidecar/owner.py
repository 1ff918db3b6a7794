"""A new sidecar starts with what the owner embedded in the photo (keywords in all three
keyword lists, caption, title), as digiKam and Lightroom do when they create one.

Readers that prefer the sidecar (Immich: the first non-empty of digiKam:TagsList,
lr:hierarchicalSubject, IPTC Keywords, the sidecar's values overriding the photo's; digiKam
reading sidecars only) would otherwise show only our keywords. The copies carry no record of
ours: they are the owner's, never changed or removed by us.
"""

from __future__ import annotations

from collections.abc import Iterable

from xmpvision.sidecar import rdf
from xmpvision.sidecar.embedded import OwnerMetadata
from xmpvision.sidecar.model import DC_SUBJECT, DIGIKAM_TAGSLIST, LR_HIERARCHICAL, TEXT_FIELDS
from xmpvision.text.untrusted import xml_storable


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        text = xml_storable(item).strip()
        if text:
            seen.setdefault(text.casefold(), text)
    return list(seen.values())


def keyword_lists(owner: OwnerMetadata) -> tuple[list[str], list[str], list[str]]:
    """dc:subject, lr:hierarchicalSubject and digiKam:TagsList for a new sidecar: each list
    gets every keyword, as the others hold it. A flat keyword is its own path unless it is a
    level of one of the owner's paths (Lightroom lists the ancestors of a keyword in
    dc:subject). The TagsList only when the photo has one (digiKam writes it)."""
    paths = _unique([*owner.hierarchical, *(p.replace("/", "|") for p in owner.tags_list)])
    levels = {level.strip().casefold() for path in paths for level in path.split("|")}
    leaves = [path.rsplit("|", 1)[-1] for path in paths]
    subjects = _unique([*owner.subjects, *leaves])
    flat = [word for word in subjects if word.casefold() not in levels]
    hierarchical = _unique([*paths, *flat])
    tags = _unique([p.replace("|", "/") for p in hierarchical]) if owner.tags_list else []
    return subjects, hierarchical, tags


def seed(packet: rdf.Packet, owner: OwnerMetadata) -> None:
    """Fill a new, empty packet with the owner's embedded metadata."""
    kinds: tuple[rdf.ContainerKind, ...] = ("Bag", "Bag", "Seq")
    tags = (DC_SUBJECT, LR_HIERARCHICAL, DIGIKAM_TAGSLIST)
    for tag, kind, items in zip(tags, kinds, keyword_lists(owner), strict=True):
        if items:
            container = packet.array(tag, kind, convert=True)
            for item in items:
                rdf.append_li(container, item)
    for name, text in (("caption", owner.caption), ("title", owner.title)):
        value = xml_storable(text or "").strip()
        if value:
            rdf.append_li(packet.array(TEXT_FIELDS[name], "Alt", convert=False), value,
                          "x-default")
