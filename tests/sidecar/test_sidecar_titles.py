"""Titles: dc:title as a Lang Alt, under the caption's ownership rules, read back by exiftool,
exempi and exiv2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from tests.sidecar.sidecar_helpers import (
    DC,
    FIXTURES,
    NOW,
    RDF,
    XML_LANG,
    exempi_dump,
    exiftool_json,
    exiftool_warnings,
    exiv2_xmp,
    label,
)
from xmpvision.errors import SidecarError
from xmpvision.results import PhotoResult, Title
from xmpvision.sidecar import read_sidecar, reset_sidecar, update_sidecar

USER_TITLE = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Oma's 80th</rdf:li>
    <rdf:li xml:lang="de">Omas 80. Geburtstag</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def title(text: str, source: str = "ollama", language: str | None = None) -> PhotoResult:
    return PhotoResult(title=Title(text=text, source=source, model="gemma3:latest",
                                   engine="ollama", language=language))


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_1.jpg"
    path.write_bytes(b"\xff\xd8\xff\xd9")
    return path


def _exempi_titles(path: Path) -> tuple[list[str], str | None]:
    """dc:title's languages and x-default text as exempi reads them. (Its dump shows the
    x-default text under every language, for dc:description too, so only that one is read.)"""
    items = exempi_dump(path).findall(f".//{DC}title/{{{RDF}}}Alt/{{{RDF}}}li")
    langs = [str(li.get(XML_LANG)) for li in items]
    return langs, next((li.text for li in items if li.get(XML_LANG) == "x-default"), None)


def _edit(sidecar: Path, old: str, new: str) -> None:
    data = sidecar.read_text(encoding="utf-8")
    assert old in data
    sidecar.write_text(data.replace(old, new), encoding="utf-8")


def test_title_written_as_lang_alt_and_read_by_every_reader(photo: Path) -> None:
    change = update_sidecar(photo, title("Pier at Dusk", language="de"), now=NOW)
    assert (change.title_added, change.title_removed) == ("Pier at Dusk", None)
    assert (change.title, change.title_source) == ("Pier at Dusk", "ollama")
    root = etree.fromstring(change.path.read_bytes())
    alt = root.find(f".//{DC}title/{{{RDF}}}Alt")
    assert alt is not None
    assert [(li.get(XML_LANG), li.text) for li in alt] == [("x-default", "Pier at Dusk"),
                                                          ("de", "Pier at Dusk")]
    assert exiftool_warnings(change.path) == set()
    (data,) = exiftool_json([change.path])
    assert data["XMP-dc:Title"] == "Pier at Dusk"
    assert data["XMP-dc:Title-de"] == "Pier at Dusk"
    record = data["XMP-xmpvision:TitleRecord"]
    assert isinstance(record, dict)
    assert record["Source"] == "ollama" and record["Language"] == "de"
    assert record["TextHash"].startswith("sha256:") and "CaptionWriter" not in record
    assert _exempi_titles(change.path) == (["x-default", "de"], "Pier at Dusk")
    exiv2 = exiv2_xmp(change.path)["Xmp.dc.title"]
    assert exiv2 == {'lang="x-default"': "Pier at Dusk", 'lang="de"': "Pier at Dusk"}
    state = read_sidecar(change.path)
    assert state.title == "Pier at Dusk" and state.provenance.title is not None
    assert state.caption_writer is None  # a title is not a caption


def test_user_title_never_touched(photo: Path) -> None:
    sidecar = photo.with_name("IMG_1.jpg.xmp")
    sidecar.write_text(USER_TITLE, encoding="utf-8")
    for force in (False, True):  # ollama (16) is below the user's xmp (32)
        change = update_sidecar(photo, title("Birthday Cake"), force=force, now=NOW)
        assert change.title == "Oma's 80th" and change.title_source == "xmp"
        assert not change.changed and change.title_added is None
        assert any("title kept" in note for note in change.notes)
    assert sidecar.read_text(encoding="utf-8") == USER_TITLE
    assert reset_sidecar(photo, {"title"}, "ollama").title == "Oma's 80th"
    assert sidecar.read_text(encoding="utf-8") == USER_TITLE


def test_user_title_of_a_digikam_sidecar_survives_for_every_reader(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_2.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    shutil.copy(FIXTURES / "digikam.jpg.xmp", tmp_path / "IMG_2.jpg.xmp")
    change = update_sidecar(photo, PhotoResult(labels=[label("Gate")],
                                               title=Title("Gate at Night", "ollama", "m", "o")),
                            now=NOW)
    assert change.changed and change.title == "Brandenburger Tor"
    (data,) = exiftool_json([change.path])
    assert data["XMP-dc:Title"] == "Brandenburger Tor"
    assert exiv2_xmp(change.path)["Xmp.dc.title"] == {'lang="x-default"': "Brandenburger Tor"}
    assert _exempi_titles(change.path) == (["x-default"], "Brandenburger Tor")


def test_edited_title_becomes_the_users(photo: Path) -> None:
    sidecar = update_sidecar(photo, title("Pier at Dusk"), now=NOW).path
    _edit(sidecar, ">Pier at Dusk<", ">Our pier, 2019<")
    change = update_sidecar(photo, title("Evening Calm"), force=True, now=NOW)
    assert change.title == "Our pier, 2019" and change.title_source == "xmp"
    assert not change.changed  # as for captions: nothing to write, the record goes next time
    assert reset_sidecar(photo, {"title"}, "ollama").title == "Our pier, 2019"


def test_our_title_replaced_only_with_force_and_priority(photo: Path) -> None:
    update_sidecar(photo, title("Pier at Dusk"), now=NOW)
    assert update_sidecar(photo, title("Evening Calm"), now=NOW).title == "Pier at Dusk"
    change = update_sidecar(photo, title("Evening Calm"), force=True, now=NOW)
    assert (change.title, change.title_removed, change.title_added) == (
        "Evening Calm", "Pier at Dusk", "Evening Calm")
    change = update_sidecar(photo, title("Calm", source="image"), force=True, now=NOW)
    assert change.title == "Evening Calm" and not change.changed
    assert update_sidecar(photo, title("Evening Calm"), now=NOW).status == "unchanged"


def test_higher_source_replaces_user_title_with_force_and_reset_restores(photo: Path) -> None:
    sidecar = photo.with_name("IMG_1.jpg.xmp")
    sidecar.write_text(USER_TITLE, encoding="utf-8")
    assert update_sidecar(photo, title("Cake", source="manual"), now=NOW).title == "Oma's 80th"
    change = update_sidecar(photo, title("Cake", source="manual", language="de"), force=True,
                            now=NOW)
    assert (change.title, change.title_removed) == ("Cake", "Oma's 80th")
    assert dict(read_sidecar(sidecar).titles) == {"x-default": "Cake", "de": "Cake"}
    change = reset_sidecar(photo, {"title"}, "manual")
    assert (change.title, change.title_removed, change.title_added) == (
        "Oma's 80th", "Cake", "Oma's 80th")
    state = read_sidecar(sidecar)
    assert dict(state.titles) == {"x-default": "Oma's 80th", "de": "Omas 80. Geburtstag"}
    assert state.provenance.title is None
    (data,) = exiftool_json([sidecar])
    assert (data["XMP-dc:Title"], data["XMP-dc:Title-de"]) == ("Oma's 80th",
                                                               "Omas 80. Geburtstag")
    assert "XMP-xmpvision:TitleRecord" not in data
    assert exiv2_xmp(sidecar)["Xmp.dc.title"] == {'lang="x-default"': "Oma's 80th",
                                                  'lang="de"': "Omas 80. Geburtstag"}
    assert _exempi_titles(sidecar) == (["x-default", "de"], "Oma's 80th")


def test_reset_removes_only_our_title_of_that_source(photo: Path) -> None:
    update_sidecar(photo, PhotoResult(labels=[label("Pier")],
                                      caption=None, title=Title("Pier", "ollama", "m", "o")),
                   now=NOW)
    assert not reset_sidecar(photo, {"title"}, "image").changed
    assert reset_sidecar(photo, {"labels"}, "ollama").title == "Pier"
    change = reset_sidecar(photo, {"title"}, "ollama", dry_run=True)
    assert change.title_removed == "Pier" and read_sidecar(change.path).title == "Pier"
    change = reset_sidecar(photo, {"title"}, "ollama")
    assert change.title is None and change.title_removed == "Pier"
    root = etree.fromstring(change.path.read_bytes())
    assert root.find(f".//{DC}title") is None
    assert exiftool_warnings(change.path) == set()


def test_reset_refuses_unknown_types(photo: Path) -> None:
    with pytest.raises(ValueError, match="allowed: labels, caption, title"):
        reset_sidecar(photo, {"headline"}, "ollama")


def test_title_is_one_line_and_xml_safe(photo: Path) -> None:
    change = update_sidecar(photo, title("Pier\n at\x00 <Dusk> & \u202eco"), now=NOW)
    assert change.title == "Pier at <Dusk> & co"
    assert exiftool_json([change.path])[0]["XMP-dc:Title"] == "Pier at <Dusk> & co"


def test_unmergeable_title_form_blocks_only_titles(photo: Path) -> None:
    sidecar = photo.with_name("IMG_1.jpg.xmp")
    literal = USER_TITLE.replace('<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Oma\'s 80th'
                                 '</rdf:li>\n    <rdf:li xml:lang="de">Omas 80. Geburtstag'
                                 "</rdf:li></rdf:Alt></dc:title>",
                                 '<dc:title rdf:parseType="Literal"><b>Oma</b></dc:title>')
    assert literal != USER_TITLE
    sidecar.write_text(literal, encoding="utf-8")
    # Keywords still go in; the title field is left exactly as it was.
    assert update_sidecar(photo, PhotoResult(labels=[label("Cake")]), now=NOW).changed
    assert '<dc:title rdf:parseType="Literal"><b>Oma</b></dc:title>' in sidecar.read_text(
        encoding="utf-8")
    before = sidecar.read_bytes()
    with pytest.raises(SidecarError, match='rdf:parseType="Literal" in dc:title'):
        update_sidecar(photo, title("Cake"), now=NOW)
    assert sidecar.read_bytes() == before
