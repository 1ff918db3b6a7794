"""Helpers for untrusted model text."""

from __future__ import annotations

from xmpvision.text.untrusted import (
    capitalize_first,
    drop_controls,
    has_hard_control,
    strip_emoji,
    strip_pictographs,
)


def test_controls() -> None:
    assert has_hard_control("a\x00b")
    assert has_hard_control("a\x1bb")
    assert not has_hard_control("a\tb\nc")
    assert drop_controls("a\x00b\r\nc\u200bd\u202ee") == "ab\n\ncde"
    assert drop_controls("\u0646\u200c\u0645") == "\u0646\u200c\u0645"  # Persian ZWNJ stays


def test_emoji() -> None:
    assert strip_emoji("\U0001f468\u200d\U0001f469\u200d\U0001f467 family 1\ufe0f\u20e3") == (
        " family "
    )
    assert strip_emoji("dog \U0001f44d\U0001f3fd") == "dog "
    assert strip_pictographs("20\u00b0C \u00a9 \U0001f600") == "20\u00b0C \u00a9 "


def test_capitalize_first() -> None:
    assert capitalize_first("a dog") == "A dog"
    assert capitalize_first("\u00e4pfel") == "\u00c4pfel"
    assert capitalize_first("iPhone boxes") == "iPhone boxes"
    assert capitalize_first('"quoted" word') == '"Quoted" word'
