"""Untrusted model text: what is kept, dropped and capped."""

from __future__ import annotations

from xmpvision.sidecar.sanitize import (
    MAX_CAPTION_CHARS,
    clean_caption,
    clean_keyword,
    clean_language,
    photo_id,
)


def test_caption_controls_dropped_lines_kept() -> None:
    assert clean_caption("  A\r\nB\rC\x00\x07\x85\ufffe\ud800 <b>&  ") == "A\nB\nC <b>&"
    assert len(clean_caption("x" * 10_000)) == MAX_CAPTION_CHARS


def test_keyword_one_line_no_hierarchy_separators() -> None:
    assert clean_keyword(" ferris\n wheel\t") == "ferris wheel"
    assert clean_keyword("AC/DC|live") == "AC-DC-live"
    assert clean_keyword("\x00\x01") == ""
    assert clean_keyword("emoji \U0001faf8 ok") == "emoji \U0001faf8 ok"


def test_language_tag() -> None:
    assert clean_language("de-CH") == "de-CH"
    assert clean_language("x-default") is None
    assert clean_language("German please") is None
    assert clean_language(None) is None


def test_photo_id_of_undecodable_name() -> None:
    assert photo_id("caf\udce9.jpg") == "caf\\xe9.jpg"
    assert photo_id("café.jpg") == "café.jpg"
