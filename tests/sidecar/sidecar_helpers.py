"""Helpers for the sidecar tests: result builders and independent XMP readers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

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
