"""Atomic writes, file modes, corrupt files, concurrent edits, odd names, hostile text."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.sidecar.sidecar_helpers import NOW, exempi_parses, exiftool_warnings, require, result
from xmpvision.errors import SidecarError
from xmpvision.sidecar import api, read_sidecar, update_sidecar
from xmpvision.sidecar.merge import apply_update
from xmpvision.sidecar.rdf import Packet
from xmpvision.text.untrusted import MAX_CAPTION_CHARS, xml_caption

CORRUPT = [
    b"\x00\x01garbage",
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF',  # truncated
    b"<html><body>not xmp</body></html>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>',
]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_1.jpg"
    path.write_bytes(b"\xff\xd8\xff\xd9")
    return path


@pytest.mark.parametrize("data", CORRUPT)
def test_corrupt_sidecar_left_byte_identical(photo: Path, data: bytes) -> None:
    sidecar = photo.with_name("IMG_1.jpg.xmp")
    sidecar.write_bytes(data)
    with pytest.raises(SidecarError) as info:
        update_sidecar(photo, result(["dog"], "A dog."), now=NOW)
    assert info.value.path == sidecar
    assert sidecar.read_bytes() == data
    assert sorted(p.name for p in photo.parent.iterdir()) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]


def test_empty_sidecar_is_filled(photo: Path) -> None:
    sidecar = photo.with_name("IMG_1.jpg.xmp")
    sidecar.write_bytes(b"")
    assert update_sidecar(photo, result(["dog"]), now=NOW).keywords == ("dog",)
    assert exempi_parses(sidecar)


def test_mode_preserved_and_new_file_follows_umask(photo: Path) -> None:
    sidecar = update_sidecar(photo, result(["dog"]), now=NOW).path
    umask = os.umask(0o022)
    os.umask(umask)
    assert sidecar.stat().st_mode & 0o777 == 0o666 & ~umask
    sidecar.chmod(0o640)
    update_sidecar(photo, result(["cat"]), now=NOW)
    assert sidecar.stat().st_mode & 0o777 == 0o640


def test_read_only_sidecar_is_not_replaced(photo: Path) -> None:
    sidecar = update_sidecar(photo, result(["dog"]), now=NOW).path
    before = sidecar.read_bytes()
    sidecar.chmod(0o444)
    with pytest.raises(SidecarError, match="read-only"):
        update_sidecar(photo, result(["cat"]), now=NOW)
    assert sidecar.read_bytes() == before


def test_concurrent_edit_is_merged_not_overwritten(
    photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar = update_sidecar(photo, result(["dog"]), now=NOW).path
    real: Callable[..., None] = api.atomic_replace  # type: ignore[attr-defined]
    calls: list[Path] = []

    def another_program_writes_first(path: Path, data: bytes, **kwargs: object) -> None:
        if not calls:  # e.g. digiKam saves a rating and a keyword while we merge
            text = path.read_text(encoding="utf-8")
            path.write_text(
                text.replace("<rdf:li>dog</rdf:li>", "<rdf:li>dog</rdf:li><rdf:li>Anna</rdf:li>",
                             1).replace('rdf:about=""', 'rdf:about="" xmp:Rating="5"', 1)
                .replace("<rdf:RDF ", '<rdf:RDF xmlns:xmp="http://ns.adobe.com/xap/1.0/" ', 1),
                encoding="utf-8",
            )
        calls.append(path)
        real(path, data, **kwargs)

    monkeypatch.setattr(api, "atomic_replace", another_program_writes_first)
    change = update_sidecar(photo, result(["dog", "cat"]), now=NOW)
    assert len(calls) == 2  # the first attempt saw the change and merged again
    assert change.keywords == ("dog", "Anna", "cat")
    assert b'xmp:Rating="5"' in sidecar.read_bytes()


def test_non_utf8_file_name(tmp_path: Path) -> None:
    photo = tmp_path / os.fsdecode(b"caf\xe9 \xff.jpg")
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    change = update_sidecar(photo, result(["coffee"], "A caf\u00e9."), now=NOW)
    assert os.fsencode(change.path.name) == b"caf\xe9 \xff.jpg.xmp"
    state = read_sidecar(change.path)
    assert state.subjects == ("coffee",)
    assert state.provenance.keywords[0].photo == "caf\\xe9 \\xff.jpg"
    assert update_sidecar(photo, result(["coffee"]), now=NOW).status == "unchanged"


def test_hostile_model_text_stored_safely(photo: Path) -> None:
    evil = '</rdf:li></rdf:Bag><rdf:li>x</rdf:li> & "q" \x00\x1b[31m\ufffe\ud800 <!-- -->'
    long_caption = "word " * 2000
    change = update_sidecar(photo, result([evil, "ok" * 500], long_caption + evil), now=NOW)
    state = read_sidecar(change.path)
    assert len(state.subjects) == 2
    assert state.subjects[0] == '<-rdf:li><-rdf:Bag><rdf:li>x<-rdf:li> & "q" [31m <!-- -->'
    assert len(state.subjects[1]) == 100
    assert state.caption is not None and len(state.caption) <= MAX_CAPTION_CHARS
    assert exiftool_warnings(change.path) == set()
    assert exempi_parses(change.path)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_any_caption_round_trips(text: str) -> None:
    packet = Packet.new("test")
    outcome = apply_update(packet, result(text=text), photo="p.jpg", now="2024-05-01T00:00:00Z")
    reread = Packet.parse(packet.to_bytes())
    alt = reread.rdf.find(".//{http://purl.org/dc/elements/1.1/}description")
    expected = xml_caption(text)
    if expected:
        assert outcome.changed
        assert alt is not None
        assert "".join(str(t) for t in alt.itertext()).strip() == expected
    else:
        assert not outcome.changed and alt is None


def test_exiftool_reads_escaped_values(photo: Path) -> None:
    change = update_sidecar(photo, result(["a<b>&c"], "x < y & \"z\""), now=NOW)
    require("exiftool")
    out = subprocess.run(["exiftool", "-s3", "-XMP-dc:Subject", "-XMP-dc:Description",
                          str(change.path)], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["a<b>&c", 'x < y & "z"']
    assert etree.fromstring(change.path.read_bytes()) is not None
