"""Untrusted model text: what is kept, dropped and capped."""

from __future__ import annotations

from xmpvision.text.languages import xml_lang
from xmpvision.text.untrusted import (
    MAX_CAPTION_CHARS,
    photo_id,
    xml_caption,
    xml_keyword,
)


def test_caption_controls_dropped_lines_kept() -> None:
    assert xml_caption("  A\r\nB\rC\x00\x07\x85\ufffe\ud800 <b>&  ") == "A\nB\nC <b>&"
    assert len(xml_caption("x" * 10_000)) == MAX_CAPTION_CHARS


def test_keyword_one_line_no_hierarchy_separators() -> None:
    assert xml_keyword(" ferris\n wheel\t") == "ferris wheel"
    assert xml_keyword("AC/DC|live") == "AC-DC-live"
    assert xml_keyword("\x00\x01") == ""
    assert xml_keyword("emoji \U0001faf8 ok") == "emoji \U0001faf8 ok"


def test_language_tag() -> None:
    assert xml_lang("de-CH") == "de-CH"
    assert xml_lang("x-default") is None
    assert xml_lang("German please") is None
    assert xml_lang(None) is None


def test_photo_id_of_undecodable_name() -> None:
    assert photo_id("caf\udce9.jpg") == "caf\\xe9.jpg"
    assert photo_id("café.jpg") == "café.jpg"
