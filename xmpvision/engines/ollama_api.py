"""Ollama's wire shapes (pydantic) and the tolerant parsing of what vision models answer.

Only the fields xmpvision uses are modelled; unknown fields are ignored so that newer Ollama
versions keep working.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GenerateRequest(BaseModel):
    """POST /api/generate. Serialise with `to_json()`, which leaves unset fields out."""

    model: str
    prompt: str
    system: str | None = None
    images: list[str] = Field(default_factory=list)  # base64, no data: prefix
    format: str | dict[str, Any] | None = None  # "json" or a JSON Schema
    stream: bool = False
    think: bool | str | None = None
    keep_alive: str | int | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class GenerateChunk(_Wire):
    """One NDJSON line of a streamed answer, or the whole answer when not streaming."""

    response: str = ""
    thinking: str = ""
    done: bool = False
    done_reason: str | None = None
    error: str | None = None
    total_duration: int | None = None  # nanoseconds
    eval_count: int | None = None


class ErrorBody(_Wire):
    error: str


class ModelInfo(_Wire):
    name: str = ""
    model: str = ""


class TagsResponse(_Wire):
    models: list[ModelInfo] = Field(default_factory=list)


class ShowResponse(_Wire):
    capabilities: list[str] | None = None  # absent before Ollama 0.6


def error_text(body: bytes) -> str:
    """Ollama's `error` text from an error body, or the body itself when it is not JSON."""
    try:
        return ErrorBody.model_validate_json(body).error
    except ValidationError:
        return body.decode("utf-8", "replace").strip()[:500] or "(empty body)"


_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_END = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)


def strip_reasoning(text: str) -> str:
    """Remove <think>...</think> blocks, and anything before a dangling closing tag."""
    text = _THINK_BLOCK.sub("", text)
    ends = list(_THINK_END.finditer(text))
    if ends:  # some templates emit only the closing tag; what precedes it is reasoning
        text = text[ends[-1].end() :]
    return text.strip()


def answer_text(response: str, thinking: str) -> str:
    """The model's answer: `response`, or `thinking` when a reasoning model left response empty."""
    text = strip_reasoning(response)
    return text if text else strip_reasoning(thinking)


def find_json(text: str) -> Any:
    """The first JSON object or array in `text`, tolerating fences and prose around it.

    Raises ValueError when there is none.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        candidate = candidate.strip()
        try:
            return json.loads(candidate)
        except ValueError:
            pass
        for match in re.finditer(r"[\[{]", candidate):
            try:
                value, _ = decoder.raw_decode(candidate, match.start())
            except ValueError:
                continue
            if isinstance(value, dict | list):
                return value
    raise ValueError("no JSON object found in the answer")


# Keys that name a label in the objects models return; labels.normalize_labels reads them too.
LABEL_NAME_KEYS = ("name", "label", "keyword", "tag", "title")


def parse_label_items(text: str) -> list[dict[str, Any] | str]:
    """Label items from a model answer: `{"labels": [...]}` or a bare list, of objects or strings.

    Items are passed on as the model wrote them (normalisation is labels.py's job); only items
    that are neither a named object nor a non-empty string are dropped. Raises ValueError with
    a short reason when the answer holds no label list, or none of its items is usable.
    """
    value = find_json(text)
    if isinstance(value, dict):
        key = next((k for k in value if isinstance(k, str) and k.lower() == "labels"), None)
        if key is None:
            raise ValueError(f"expected a \"labels\" list, got keys {sorted(map(str, value))[:5]}")
        value = value[key]
    if not isinstance(value, list):
        raise ValueError(f"expected a list of labels, got {type(value).__name__}")
    items: list[dict[str, Any] | str] = []
    for raw in value:
        if _usable_item(raw):
            items.append(raw)
    if value and not items:
        raise ValueError(f"none of the {len(value)} label items has a name")
    return items


def _usable_item(raw: object) -> bool:
    if isinstance(raw, str):
        return bool(raw.strip())
    if isinstance(raw, dict):
        return any(isinstance(raw.get(k), str) and raw[k].strip() for k in LABEL_NAME_KEYS)
    return False


_CAPTION_KEYS = ("caption", "description", "text", "sentence")


def caption_from_json(text: str) -> str:
    """The caption inside a JSON answer ({"caption": ...}), or `text` unchanged if not JSON."""
    stripped = text.strip()
    if not stripped.startswith(("{", "```")):
        return text
    try:
        value = find_json(stripped)
    except ValueError:
        return text
    if isinstance(value, dict):
        for key in _CAPTION_KEYS:
            found = value.get(key)
            if isinstance(found, str):
                return found
    return text
