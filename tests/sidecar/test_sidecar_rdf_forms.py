"""Every RDF/XML form XMP allows for a value: merged so that exiftool, exempi and exiv2 all read
the user's keywords, ours and the caption afterwards, or refused with the file left untouched."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.sidecar.sidecar_helpers import (
    FIXTURES,
    NOW,
    RDF,
    READERS,
    exempi_dump,
    exiftool_json,
    exiftool_warnings,
    result,
)
from xmpvision.errors import SidecarError
from xmpvision.sidecar import read_sidecar, reset_sidecar, update_sidecar

OURS = ["lighthouse", "Boat"]
OUR_CAPTION = "A boat passes a lighthouse."


@dataclass(frozen=True)
class Form:
    fixture: str
    subjects: list[str]  # the user's dc:subject
    hierarchical: list[str]  # the user's lr:hierarchicalSubject
    caption: str | None  # the user's x-default caption
    kept: dict[str, object] = field(default_factory=dict)  # exiftool facts that must survive


FORMS = [
    # dc:subject -> rdf:Description rdf:nodeID holding the Bag (listed before the document).
    Form("form-nodeid-bag.xmp", ["beach", "Anna"], ["places|beach"], "Anna at the beach"),
    # A top-level rdf:Bag node, an item and a qualified caption given as separate nodes.
    Form("form-nodeid-typed.xmp", ["beach", "Anna"], [], "Anna at the beach",
         {"XMP-dc:SubjectConfirmedBy": "Jane", "XMP-dc:DescriptionWrittenBy": "Jane"}),
    # URI values: a simple rdf:resource value and an rdf:resource item.
    Form("form-resource.xmp", ["http://example.org/tags/beach"],
         ["http://example.org/tags/Anna"], "Anna at the beach"),
    # rdf:parseType="Resource" with rdf:value: a qualified keyword and caption item.
    Form("form-parsetype-resource.xmp", ["beach"], [], "Anna at the beach",
         {"XMP-dc:SubjectConfirmedBy": "Jane", "XMP-dc:DescriptionWrittenBy": "Jane"}),
    # <rdf:Description><rdf:value>: qualified keyword, qualified array, xml:lang on rdf:value.
    Form("form-value-qualifiers.xmp", ["beach"], ["places|beach", "people|Anna"],
         "Anna at the beach",
         {"XMP-dc:SubjectConfirmedBy": "Jane", "XMP-lr:HierarchicalSubjectConfirmedBy": "Jane",
          "XMP-dc:DescriptionWrittenBy": "Jane"}),
    # Items as rdf:li parseType="Resource" and rdf:li rdf:value="..."; an empty qualified
    # photoshop:CaptionWriter that we fill in.
    Form("form-li-resource.xmp", ["beach", "Anna"], [], None,
         {"XMP-dc:SubjectConfidence": 0.9, "XMP-dc:SubjectConfirmedBy": "Jane",
          "XMP-photoshop:CaptionWriterNote": "to be filled in"}),
    # Property attributes on the description, and <P rdf:value="..." q:x="..."/>.
    Form("form-attributes.xmp", ["beach"], ["people|Anna"], "Anna at the beach",
         {"XMP-lr:HierarchicalSubjectConfirmedBy": "Jane"}),
]

REFUSED = [
    ("refused-membership.xmp", "rdf:_N container membership in dc:subject"),
    ("refused-shared-nodeid.xmp", 'rdf:nodeID "tags" used more than once'),
    ("refused-dangling-nodeid.xmp", 'rdf:nodeID "elsewhere" naming no node'),
    ("refused-parsetype-literal.xmp", 'rdf:parseType="Literal" in dc:subject'),
    ("refused-parsetype-collection.xmp", 'rdf:parseType="Collection" in dc:subject'),
    ("refused-struct.xmp", "a struct as the value of dc:subject"),
    ("refused-duplicate.xmp", "dc:subject given more than once"),
    ("refused-caption-nodeid-shared.xmp", 'rdf:nodeID "text" used more than once'),
]


def _place(tmp_path: Path, fixture: str) -> tuple[Path, Path]:
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    sidecar = tmp_path / "IMG_0001.jpg.xmp"
    shutil.copy(FIXTURES / fixture, sidecar)
    return photo, sidecar


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.fixture)
def test_form_is_read_like_the_readers_do(tmp_path: Path, form: Form) -> None:
    _, sidecar = _place(tmp_path, form.fixture)
    state = read_sidecar(sidecar)
    assert list(state.subjects) == form.subjects
    assert list(state.hierarchical) == form.hierarchical
    assert state.caption == form.caption


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.fixture)
def test_every_reader_sees_user_values_and_ours(tmp_path: Path, form: Form, reader: str) -> None:
    photo, sidecar = _place(tmp_path, form.fixture)
    reference = tmp_path / "reference.xmp"
    shutil.copy(sidecar, reference)
    change = update_sidecar(photo, result(OURS, OUR_CAPTION), now=NOW)
    assert change.changed and change.path == sidecar
    seen = READERS[reader](sidecar)
    assert seen.subjects == form.subjects + OURS
    assert seen.hierarchical == form.hierarchical + OURS
    assert seen.caption == (form.caption or OUR_CAPTION)
    if reader == "exiftool":
        assert exiftool_warnings(sidecar) <= exiftool_warnings(reference)
        (data,) = exiftool_json([sidecar])
        assert data["XMP-xmp:Rating"] == 3  # a foreign property beside ours
        for tag, value in form.kept.items():
            assert data[tag] == value, tag


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.fixture)
def test_regenerate_and_reset_keep_user_values(tmp_path: Path, form: Form) -> None:
    photo, sidecar = _place(tmp_path, form.fixture)
    update_sidecar(photo, result(OURS, OUR_CAPTION), now=NOW)
    assert update_sidecar(photo, result(OURS, OUR_CAPTION), now=NOW).status == "unchanged"
    reset = reset_sidecar(photo, {"labels", "caption"}, "ollama", now=NOW)
    assert list(reset.keywords) == form.subjects
    assert reset.caption == form.caption
    for reader, seen_by in READERS.items():
        seen = seen_by(sidecar)
        assert (seen.subjects, seen.hierarchical, seen.caption) == (
            form.subjects, form.hierarchical, form.caption), reader
    (data,) = exiftool_json([sidecar])
    for tag, value in form.kept.items():
        assert data[tag] == value, tag


def test_uri_values_stay_uris(tmp_path: Path) -> None:
    photo, sidecar = _place(tmp_path, "form-resource.xmp")
    update_sidecar(photo, result(OURS, OUR_CAPTION), now=NOW)
    root = exempi_dump(sidecar)
    uris = [li.get(f"{{{RDF}}}resource") for li in root.iter(f"{{{RDF}}}li")]
    assert uris.count("http://example.org/tags/beach") == 1  # an item, not a text literal
    assert uris.count("http://example.org/tags/Anna") == 1


def test_forced_caption_does_not_replace_a_qualified_one(tmp_path: Path) -> None:
    # A replaced caption is recorded as text only: its qualifiers would be lost for good.
    photo, sidecar = _place(tmp_path, "form-parsetype-resource.xmp")
    manual = result(OURS, OUR_CAPTION, source="manual")  # outranks the user's caption (xmp)
    change = update_sidecar(photo, manual, force=True, now=NOW)
    assert change.caption == "Anna at the beach"
    assert any("qualifiers" in note for note in change.notes)
    (data,) = exiftool_json([sidecar])
    assert data["XMP-dc:DescriptionWrittenBy"] == "Jane"
    # A plain caption is replaced as before.
    photo, _ = _place(tmp_path, "form-nodeid-bag.xmp")
    assert update_sidecar(photo, manual, force=True, now=NOW).caption == OUR_CAPTION


@pytest.mark.parametrize(("fixture", "form"), REFUSED)
def test_unmergeable_form_is_refused_and_left_byte_identical(
    tmp_path: Path, fixture: str, form: str
) -> None:
    photo, sidecar = _place(tmp_path, fixture)
    before = sidecar.read_bytes()
    calls: list[Callable[[], object]] = [
        lambda: update_sidecar(photo, result(OURS, OUR_CAPTION), now=NOW),
        lambda: update_sidecar(photo, result(OURS, OUR_CAPTION), force=True, now=NOW),
        lambda: reset_sidecar(photo, {"labels", "caption"}, "ollama", now=NOW),
    ]
    for call in calls:
        with pytest.raises(SidecarError) as info:
            call()
        assert info.value.path == sidecar
        assert f"unsupported RDF form {form}" in str(info.value)
        assert str(info.value).endswith("; left untouched")
        assert sidecar.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.jpg", "IMG_0001.jpg.xmp"]
