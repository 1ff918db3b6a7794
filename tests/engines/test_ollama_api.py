"""Parsing of model answers and the module-level views used by `vision ls`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xmpvision.config.models import ModelConfig
from xmpvision.engines import prompts
from xmpvision.engines.ollama import (
    base_url,
    effective_options,
    endpoint,
    response_format,
    response_format_name,
)
from xmpvision.engines.ollama_api import (
    GenerateRequest,
    answer_text,
    caption_from_json,
    error_text,
    find_json,
    parse_label_items,
    strip_reasoning,
)
from xmpvision.errors import ConfigError


def model(**entry: Any) -> ModelConfig:
    return ModelConfig.model_validate({"Type": "labels", "Model": "gemma3", **entry})


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (None, "http://127.0.0.1:11434"),
        ("${OLLAMA_HOST}", "http://127.0.0.1:11434"),
        ("http://gpu:11434/", "http://gpu:11434"),
        ("http://gpu:11434/api/generate", "http://gpu:11434"),
        ("https://proxy.example/ollama/api/chat", "https://proxy.example/ollama"),
        ("gpu.lan:11434", "http://gpu.lan:11434"),
    ],
)
def test_base_url(uri: str | None, expected: str) -> None:
    assert base_url(model(Service={"Uri": uri})) == expected


def test_endpoint() -> None:
    assert endpoint(model()) == "POST http://127.0.0.1:11434/api/generate"


def test_effective_options_merge_and_cap() -> None:
    assert effective_options(model()) == {"temperature": 0.1}
    assert effective_options(model(Options={"Temperature": 0.7, "Seed": 3})) == {
        "temperature": 0.7,
        "seed": 3,
    }
    assert effective_options(model(Options={"Temperature": 9}))["temperature"] == 2.0


def test_response_format() -> None:
    assert response_format(model()) == prompts.LABELS_SCHEMA
    assert response_format_name(model()) == "json-schema"
    assert response_format(model(Format="JSON")) == "json"
    assert response_format_name(model(Type="caption")) == "text"
    assert response_format(model(Type="caption", Format="json")) == "json"


def test_invalid_schema_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a JSON Schema object"):
        response_format(model(Schema="[1, 2]"))
    with pytest.raises(ConfigError, match="cannot read"):
        response_format(model(SchemaFile=tmp_path / "missing.json"))


def test_generate_request_leaves_unset_fields_out() -> None:
    body = GenerateRequest(model="m", prompt="p").to_json()
    assert body == {"model": "m", "prompt": "p", "images": [], "stream": False, "options": {}}


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


def test_answer_text_falls_back_to_thinking() -> None:
    assert answer_text("  ", "from thinking") == "from thinking"
    assert answer_text("response", "ignored") == "response"


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


def test_caption_from_json() -> None:
    assert caption_from_json('{"caption": "A cat sleeps."}') == "A cat sleeps."
    assert caption_from_json("A cat {sleeps}.") == "A cat {sleeps}."
    assert caption_from_json('{"other": 1}') == '{"other": 1}'


def test_error_text() -> None:
    assert error_text(b'{"error": "model \'x\' not found"}') == "model 'x' not found"
    assert error_text(b"404 page not found") == "404 page not found"
    assert error_text(b"") == "(empty body)"


def test_language_names() -> None:
    assert prompts.language_name("de") == "German"
    assert prompts.language_name("de-DE") == "German"
    assert prompts.language_name("zh-Hant") == "Traditional Chinese"
    assert prompts.language_name("tlh") == "tlh"
