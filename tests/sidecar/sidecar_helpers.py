"""Helpers for the sidecar tests: result builders and independent XMP readers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyexiv2
import pytest
from lxml import etree

from xmpvision.results import Caption, Label, PhotoResult

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sidecars"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

# Properties xmpvision may change; everything else must survive byte-for-meaning.
OURS = {
    "{http://purl.org/dc/elements/1.1/}subject",
    "{http://purl.org/dc/elements/1.1/}description",
    "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject",
    "{http://www.digikam.org/ns/1.0/}TagsList",
    "{http://ns.adobe.com/xap/1.0/}MetadataDate",
    "{http://ns.adobe.com/photoshop/1.0/}CaptionWriter",
}
OUR_NS = "{https://xmpvision.org/ns/1.0/}"


def label(name: str, confidence: float = 0.8, source: str = "ollama") -> Label:
    engine = "tensorflow" if source == "image" else "ollama"
    model = "nasnet" if source == "image" else "gemma3:latest"
    return Label(name=name, confidence=confidence, source=source, model=model, engine=engine)


def caption(text: str, source: str = "ollama", language: str | None = None) -> Caption:
    return Caption(text=text, source=source, model="gemma3:latest", engine="ollama",
                   language=language)


def result(labels: list[str] | None = None, text: str | None = None, source: str = "ollama",
           language: str | None = None) -> PhotoResult:
    return PhotoResult(
        labels=None if labels is None else [label(n, source=source) for n in labels],
        caption=None if text is None else caption(text, source, language),
    )


def foreign_facts(data: bytes) -> Counter[tuple[str, str]]:
    """Every property we do not own, canonicalised (attribute and element forms alike)."""
    root = etree.fromstring(data)
    facts: Counter[tuple[str, str]] = Counter()
    facts[("root-attrs", json.dumps(sorted(root.attrib.items())))] += 1
    for description in root.iter(f"{{{RDF}}}Description"):
        parent = description.getparent()
        if parent is None or parent.tag != f"{{{RDF}}}RDF":
            continue
        for key, value in description.attrib.items():
            name = str(key)
            if name not in OURS and not name.startswith(OUR_NS):
                facts[(name, str(value))] += 1
        for child in description:
            if isinstance(child.tag, str) and child.tag not in OURS \
                    and not child.tag.startswith(OUR_NS):
                text = etree.tostring(child, method="c14n", exclusive=True, with_tail=False)
                facts[(child.tag, text.decode())] += 1
    return facts


def require(tool: str) -> None:
    """Skip when an independent reader is missing, unless CI demands it (then fail)."""
    if shutil.which(tool):
        return
    if os.environ.get("XMPVISION_REQUIRE_READERS"):
        pytest.fail(f"{tool} is required (XMPVISION_REQUIRE_READERS is set) but not installed")
    pytest.skip(f"{tool} not installed")


def exiftool_json(paths: list[Path]) -> list[dict[str, object]]:
    require("exiftool")
    out = subprocess.run(
        ["exiftool", "-j", "-G1", "-struct", "-XMP:all", *map(str, paths)],
        capture_output=True, check=True,
    )
    data: list[dict[str, object]] = json.loads(out.stdout)
    return data


def exiftool_warnings(path: Path) -> set[str]:
    require("exiftool")
    out = subprocess.run(
        ["exiftool", "-validate", "-warning", "-a", "-s3", str(path)],
        capture_output=True, text=True, check=True,
    )
    summary = re.compile(r"^(OK|\d+ Warnings?( \(\d+ minor\)| \(minor\))?)$")
    return {line.strip() for line in out.stdout.splitlines()
            if line.strip() and not summary.match(line.strip())}


def exempi_parses(path: Path) -> bool:
    require("exempi")
    out = subprocess.run(["exempi", "-X", "-x", str(path)], capture_output=True, text=True)
    return out.returncode == 0 and not out.stderr.strip() and "<x:xmpmeta" in out.stdout


# ---- what each independent reader sees --------------------------------------------------------

DC = "{http://purl.org/dc/elements/1.1/}"
LR = "{http://ns.adobe.com/lightroom/1.0/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class Seen:
    """Keywords and caption as one reader reports them."""

    subjects: list[str]
    hierarchical: list[str]
    caption: str | None


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def exiftool_seen(path: Path) -> Seen:
    (data,) = exiftool_json([path])
    caption = data.get("XMP-dc:Description")
    return Seen(_as_list(data.get("XMP-dc:Subject")),
                _as_list(data.get("XMP-lr:HierarchicalSubject")),
                None if caption is None else str(caption))


def exempi_dump(path: Path) -> etree._Element:
    """The packet as exempi (the Adobe XMP toolkit) parsed it, in the toolkit's one form."""
    require("exempi")
    out = subprocess.run(["exempi", "-X", "-x", str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    return etree.fromstring(out.stdout[out.stdout.index("<x:xmpmeta"):].encode("utf-8"))


def exempi_seen(path: Path) -> Seen:
    root = exempi_dump(path)

    def text(li: etree._Element) -> str:
        value = li.find(f"{{{RDF}}}value")
        return li.get(f"{{{RDF}}}resource") or (value.text if value is not None else li.text) or ""

    def items(tag: str) -> list[etree._Element]:
        prop = root.find(f".//{tag}")
        if prop is not None and prop.get(f"{{{RDF}}}parseType") == "Resource":
            prop = prop.find(f"{{{RDF}}}value")  # a qualified array
        return [] if prop is None else list(prop.iterfind(f"./*/{{{RDF}}}li"))

    captions = [text(li) for li in items(f"{DC}description") if li.get(XML_LANG) == "x-default"]
    return Seen([text(li) for li in items(f"{DC}subject")],
                [text(li) for li in items(f"{LR}hierarchicalSubject")],
                captions[0] if captions else None)


def exiv2_xmp(path: Path) -> dict[str, object]:
    pyexiv2.set_log_level(3)  # exiv2 warns on stdout otherwise
    image = pyexiv2.ImageData(path.read_bytes())
    try:
        return dict(image.read_xmp())
    finally:
        image.close()


def exiv2_seen(path: Path) -> Seen:
    xmp = exiv2_xmp(path)

    def items(key: str) -> list[str]:
        value = xmp.get(key)
        if isinstance(value, list):
            return [str(item) for item in value]
        # Arrays with qualified items come as numbered keys ("Xmp.dc.subject[1]").
        found, n = [], 1
        while f"{key}[{n}]" in xmp:
            found.append(str(xmp[f"{key}[{n}]"]))
            n += 1
        if not found and isinstance(value, str) and not value.startswith("type="):
            found.append(value)
        return found

    description = xmp.get("Xmp.dc.description")
    caption = description.get('lang="x-default"') if isinstance(description, dict) else None
    return Seen(items("Xmp.dc.subject"), items("Xmp.lr.hierarchicalSubject"),
                None if caption is None else str(caption))


READERS = {"exiftool": exiftool_seen, "exempi": exempi_seen, "exiv2": exiv2_seen}
