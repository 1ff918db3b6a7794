"""Sidecars as darktable, digiKam, Lightroom and exiftool write them survive our rewrite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from tests.sidecar.sidecar_helpers import (
    NOW,
    RDF,
    exempi_parses,
    exiftool_json,
    exiftool_warnings,
    foreign_facts,
    result,
)
from xmpvision.sidecar import read_sidecar, update_sidecar

# (fixture, photo name, sidecar name as the app names it)
CASES = [
    ("darktable.CR2.xmp", "IMG_0001.CR2", "IMG_0001.CR2.xmp"),
    ("digikam.jpg.xmp", "IMG_0002.jpg", "IMG_0002.jpg.xmp"),
    ("lightroom.xmp", "IMG_0003.CR2", "IMG_0003.xmp"),
    ("exiftool.jpg.xmp", "IMG_0004.jpg", "IMG_0004.jpg.xmp"),
    ("pyexiv2-seq.jpg.xmp", "IMG_0005.jpg", "IMG_0005.jpg.xmp"),
]

PlaceFn = Callable[[str, str, str], Path]


def _write(place: PlaceFn, fixture: str, photo_name: str, sidecar_name: str) -> tuple[
    Path, bytes, bytes
]:
    photo = place(fixture, photo_name, sidecar_name)
    sidecar = photo.with_name(sidecar_name)
    before = sidecar.read_bytes()
    change = update_sidecar(
        photo,
        result(["lighthouse", "Boat"], "A boat passes a <lighthouse> & a pier."),
        force=False,
        now=NOW,
    )
    assert change.path == sidecar
    assert change.changed
    return sidecar, before, sidecar.read_bytes()


@pytest.mark.parametrize(("fixture", "photo_name", "sidecar_name"), CASES)
def test_foreign_properties_survive(
    place: PlaceFn, fixture: str, photo_name: str, sidecar_name: str
) -> None:
    sidecar, before, after = _write(place, fixture, photo_name, sidecar_name)
    assert foreign_facts(after) == foreign_facts(before)
    # No second sidecar was created next to the one that exists.
    assert sorted(p.name for p in sidecar.parent.iterdir()) == sorted([photo_name, sidecar_name])


@pytest.mark.parametrize(("fixture", "photo_name", "sidecar_name"), CASES)
def test_user_keywords_kept_and_ours_added(
    place: PlaceFn, fixture: str, photo_name: str, sidecar_name: str
) -> None:
    sidecar = place(fixture, photo_name, sidecar_name).with_name(sidecar_name)
    old = read_sidecar(sidecar)
    _, _, _ = _write(place, fixture, photo_name, sidecar_name)
    new = read_sidecar(sidecar)
    assert list(new.subjects[: len(old.subjects)]) == list(old.subjects)
    assert {"lighthouse", "Boat"} <= set(new.subjects)
    assert set(old.hierarchical) <= set(new.hierarchical)
    assert {"lighthouse", "Boat"} <= set(new.hierarchical)
    if old.tags_list is not None:
        assert new.tags_list is not None
        assert list(new.tags_list[: len(old.tags_list)]) == list(old.tags_list)
        assert {"lighthouse", "Boat"} <= set(new.tags_list)


def test_user_caption_and_writer_kept(place: PlaceFn) -> None:
    sidecar, _, _ = _write(place, "lightroom.xmp", "IMG_0003.CR2", "IMG_0003.xmp")
    state = read_sidecar(sidecar)
    assert state.caption == "Grandma's 80th birthday in the garden"
    sidecar2, _, _ = _write(place, "exiftool.jpg.xmp", "IMG_0004.jpg", "IMG_0004.jpg.xmp")
    assert read_sidecar(sidecar2).caption_writer == "Jane"  # only set when empty


def test_attribute_caption_and_seq_subject_are_normalised(place: PlaceFn) -> None:
    sidecar, _, after = _write(place, "pyexiv2-seq.jpg.xmp", "IMG_0005.jpg", "IMG_0005.jpg.xmp")
    root = etree.fromstring(after)
    subject = root.find(f".//{{http://purl.org/dc/elements/1.1/}}subject/{{{RDF}}}Bag")
    assert subject is not None  # the Seq digiKam would ignore became a Bag, items kept
    assert [li.text for li in subject] == ["beach", "lighthouse", "Boat"]
    # A user caption in attribute form is still the caption (not replaced without --force).
    assert read_sidecar(sidecar).caption == "old plain caption"


def test_independent_readers_accept_every_written_sidecar(place: PlaceFn) -> None:
    written = []
    for fixture, photo_name, sidecar_name in CASES:
        sidecar, before, _ = _write(place, fixture, photo_name, sidecar_name)
        reference = sidecar.with_name(sidecar.name + ".orig")
        reference.write_bytes(before)
        # Foreign files may carry their own minor warnings; we must add none.
        assert exiftool_warnings(sidecar) <= exiftool_warnings(reference), fixture
        assert exempi_parses(sidecar), fixture
        written.append(sidecar)
    for sidecar, data in zip(written, exiftool_json(written), strict=True):
        assert {"lighthouse", "Boat"} <= set(_as_list(data["XMP-dc:Subject"]))
        assert {"lighthouse", "Boat"} <= set(_as_list(data["XMP-lr:HierarchicalSubject"]))
        keywords = _as_list(data["XMP-xmpvision:Keywords"])
        assert {k["Name"] for k in keywords if isinstance(k, dict)} >= {"lighthouse", "Boat"}
        assert "XMP-xmp:MetadataDate" in data, sidecar


def test_new_sidecar_is_valid_and_uses_bags(tmp_path: Path) -> None:
    photo = tmp_path / "new.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    change = update_sidecar(
        photo, result(["dog", "ball"], "A dog chases a ball.", language="de"), now=NOW
    )
    assert change.created and change.path == tmp_path / "new.jpg.xmp"
    assert exiftool_warnings(change.path) == set()
    assert exempi_parses(change.path)
    root = etree.fromstring(change.path.read_bytes())
    for tag in ("{http://purl.org/dc/elements/1.1/}subject",
                "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject"):
        prop = root.find(f".//{tag}")
        assert prop is not None and len(prop) == 1 and prop[0].tag == f"{{{RDF}}}Bag"
    alt = root.find(f".//{{http://purl.org/dc/elements/1.1/}}description/{{{RDF}}}Alt")
    assert alt is not None
    langs = [li.get("{http://www.w3.org/XML/1998/namespace}lang") for li in alt]
    assert langs == ["x-default", "de"]
    (data,) = exiftool_json([change.path])
    assert data["XMP-dc:Description"] == "A dog chases a ball."
    assert data["XMP-dc:Description-de"] == "A dog chases a ball."
    assert data["XMP-photoshop:CaptionWriter"] == "xmpvision"
    record = data["XMP-xmpvision:Caption"]
    assert isinstance(record, dict)
    assert record["Source"] == "ollama" and record["Model"] == "gemma3:latest"


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]
