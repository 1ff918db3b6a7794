"""Ollama's wire shapes and the module-level views of a model used by `vision ls`."""

from __future__ import annotations

from typing import Any

import pytest

from xmpvision.config.builtin import resolve_model
from xmpvision.config.models import ModelConfig
from xmpvision.engines import prompts
from xmpvision.engines.ollama import (
    base_url,
    effective_options,
    endpoint,
    response_format,
    response_format_name,
)
from xmpvision.engines.ollama.api import GenerateRequest, error_text


def model(**entry: Any) -> ModelConfig:
    return resolve_model(ModelConfig.model_validate({"Type": "labels", "Model": "gemma3", **entry}))


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


def test_generate_request_leaves_unset_fields_out() -> None:
    body = GenerateRequest(model="m", prompt="p").to_json()
    assert body == {"model": "m", "prompt": "p", "images": [], "stream": False, "options": {}}


def test_error_text() -> None:
    assert error_text(b'{"error": "model \'x\' not found"}') == "model 'x' not found"
    assert error_text(b"404 page not found") == "404 page not found"
    assert error_text(b"") == "(empty body)"


def test_model_names_compare_as_ollama_compares_them() -> None:
    from xmpvision.engines.ollama.api import same_model

    assert same_model("Gemma3:4B", "gemma3:4b")
    assert same_model("gemma3", "gemma3:latest")
    assert same_model("registry.ollama.ai/library/Qwen2.5VL:7b", "qwen2.5vl:7b")
    assert not same_model("gemma3:4b", "gemma3:12b")
    assert not same_model("me/gemma3", "gemma3")
