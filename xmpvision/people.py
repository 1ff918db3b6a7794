"""The people the owner named in a photo: face regions (MWG `mwg-rs:Regions`, as digiKam,
Lightroom, Picasa and darktable write them), `Iptc4xmpExt:PersonInImage`, and digiKam's
`People|…` tags. Names guide a caption ("People in this photo: Anna, Tom"); they are never
written by us as keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from lxml import etree

MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NAME, _TYPE = f"{{{MWG_RS}}}Name", f"{{{MWG_RS}}}Type"
_PERSON = f"{{{IPTC_EXT}}}PersonInImage"
# digiKam's tags for faces it found but nobody named.
PEOPLE_BRANCH = "people"  # digiKam's root tag of named faces (case-folded)
_UNNAMED = frozenset({"unknown", "unconfirmed", "ignored"})
_EXIV2_REGION = re.compile(r"^Xmp\.mwg-rs\.Regions/mwg-rs:RegionList\[(\d+)\]/mwg-rs:(Name|Type)$")


def unique_names(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        if name.strip() and name.strip().casefold() not in _UNNAMED:
            seen.setdefault(name.strip().casefold(), name.strip())
    return tuple(seen.values())


def tagged_people(paths: Iterable[str]) -> list[str]:
    """Leaves of "People|…" (or "People/…") keyword paths."""
    found = []
    for path in paths:
        levels = [level.strip() for level in path.replace("/", "|").split("|")]
        if len(levels) > 1 and levels[0].casefold() == PEOPLE_BRANCH:
            found.append(levels[-1])
    return found


def _text(element: etree._Element) -> str:
    value = element.find(f"{{{_RDF}}}value")
    return (value.text if value is not None else element.text) or ""


def _faces(root: etree._Element) -> list[str]:
    """Names of face regions, in any RDF form (attributes or elements)."""
    names = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if _NAME in element.attrib:
            kind = element.get(_TYPE) or next(
                (_text(e) for e in element if e.tag == _TYPE), "")
            if kind in ("", "Face"):
                names.append(element.get(_NAME, ""))
        if element.tag == _NAME:
            parent = element.getparent()
            if parent is None:
                continue
            kind = parent.get(_TYPE) or next((_text(e) for e in parent if e.tag == _TYPE), "")
            if kind in ("", "Face"):
                names.append(_text(element))
    return names


def people_in_tree(root: etree._Element) -> tuple[str, ...]:
    """Named faces and PersonInImage of an XMP packet."""
    persons = [_text(li) for prop in root.iter(_PERSON) for li in prop.iter(f"{{{_RDF}}}li")]
    return unique_names([*_faces(root), *persons])


def people_in_exiv2(values: Mapping[str, object]) -> tuple[str, ...]:
    """Named faces and PersonInImage as exiv2 reads a photo's XMP (pyexiv2's keys)."""
    regions: dict[str, dict[str, str]] = {}
    for key, value in values.items():
        found = _EXIV2_REGION.match(key)
        if found and isinstance(value, str):
            regions.setdefault(found.group(1), {})[found.group(2)] = value
    faces = [r.get("Name", "") for r in regions.values() if r.get("Type", "Face") == "Face"]
    persons = values.get("Xmp.iptcExt.PersonInImage")
    listed = [str(p) for p in persons] if isinstance(persons, list) else (
        [persons] if isinstance(persons, str) else [])
    return unique_names([*faces, *listed])
