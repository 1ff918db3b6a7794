"""What models answer, before it is a label or a caption: reasoning, fences, JSON in prose."""

from __future__ import annotations

import pytest

from xmpvision.text.answers import (
    answer_text,
    find_json,
    parse_label_items,
    strip_reasoning,
    unwrap_caption,
)
from xmpvision.text.languages import language_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>hmm</think> answer", "answer"),
        ("<THINKING>a\nb</THINKING>\nanswer", "answer"),
        ("reasoning without opening tag</think>answer", "answer"),
        ("plain", "plain"),
    ],
)
def test_strip_reasoning(text: str, expected: str) -> None:
    assert strip_reasoning(text) == expected


def test_answer_text_is_never_the_thinking() -> None:
    assert answer_text("  ") == ""
    assert answer_text("<think>the user wants</think> response") == "response"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}```',
        'Sure! Here it is: {"a": 1} Anything else?',
        'Set {x} first, then {"a": 1}',
    ],
)
def test_find_json(text: str) -> None:
    assert find_json(text) == {"a": 1}


def test_parse_label_items_keeps_items_as_written() -> None:
    items = parse_label_items('{"labels": [{"label": "cat", "score": 0.8}, "dog", "", 3]}')
    assert items == [{"label": "cat", "score": 0.8}, "dog"]


def test_label_items_in_other_compact_shapes() -> None:
    """A model that writes [name, confidence, topicality] lists, or a name -> confidence map,
    instead of the strings asked for."""
    assert parse_label_items('{"labels": [["dog", 96, 90], ["sky"], [3]]}') == [
        {"name": "dog", "confidence": 96, "topicality": 90}, {"name": "sky"}]
    assert parse_label_items('{"labels": {"dog": 96, "beach": 0.8}}') == [
        {"name": "dog", "confidence": 96}, {"name": "beach", "confidence": 0.8}]


def test_unwrap_caption() -> None:
    assert unwrap_caption('{"caption": "A cat sleeps."}') == "A cat sleeps."
    assert unwrap_caption('{"Caption": {"text": "A dog."}}') == "A dog."
    assert unwrap_caption('```json\n{"description": "A dog."}\n```') == "A dog."
    assert unwrap_caption("A cat {sleeps}.") == "A cat {sleeps}."
    assert unwrap_caption('{"other": 1}') == '{"other": 1}'


def test_deeply_nested_answer_is_an_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        find_json("[" * 100_000 + "]" * 100_000)
    deep = '{"caption": ' * 50_000 + '"x"' + "}" * 50_000
    assert unwrap_caption(deep) == deep


def test_language_names() -> None:
    assert language_name("de") == "German"
    assert language_name("de-DE") == "German"
    assert language_name("zh-Hant") == "Traditional Chinese"
    assert language_name("tlh") == "tlh"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>hmm</think>answer", "answer"),
        ("<THINKING>a\nb</THINKING> answer", "answer"),
        ("reasoning</think>answer", "answer"),
        ("answer <think>unfinished", "answer"),
        ("no tags", "no tags"),
    ],
)
def test_strip_reasoning_untrusted_forms(text: str, expected: str) -> None:
    assert strip_reasoning(text) == expected
