"""What a vision model answered, before it is a label or a caption: reasoning blocks, code
fences, JSON somewhere in prose. Every engine's answer goes through here (one copy of each
rule), so a reasoning model or a fenced answer behaves the same whichever server sent it.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

# Reasoning models (qwen3, deepseek-r1, gemma with "think") put their thoughts in these tags.
_THINK_TAGS = ("think", "thinking", "thought", "reasoning", "reflection")
# One pass over the tags, opening and closing alike (a block regex would rescan the rest of the
# answer from every unclosed opening tag: quadratic on a hostile answer).
_THINK_TAG = re.compile(
    r"<(/?)(" + "|".join(_THINK_TAGS) + r")\b[^<>]{0,200}>", re.IGNORECASE
)
# JSON may start at any of these; a hostile answer full of unclosed brackets must not make the
# search rescan the whole answer from each of them.
_MAX_JSON_STARTS = 64
# A fenced block; an unclosed fence (the answer was cut off) runs to the end.
FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)

# Keys that name a label in the objects models return.
LABEL_NAME_KEYS = ("name", "label", "keyword", "tag", "title")
# Keys under which models put a caption when they answer with JSON anyway.
CAPTION_KEYS = ("caption", "description", "text", "sentence", "response", "alt")


def strip_reasoning(text: str) -> str:
    """Remove <think>...</think>-style blocks.

    An unclosed opening tag means the answer never came: everything after it is dropped.
    A lone closing tag (Ollama strips the opening one for some models) ends the reasoning.
    """
    kept: list[str] = []
    pos = 0
    open_tag: str | None = None  # the block we are in, or None
    for tag in _THINK_TAG.finditer(text):
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        if open_tag is None:
            if closing:
                kept = []  # a lone closing tag: everything before it was reasoning
            else:
                kept.append(text[pos : tag.start()])
                open_tag = name
            pos = tag.end()
        elif closing and name == open_tag:
            kept.append(" ")
            open_tag = None
            pos = tag.end()
    if open_tag is None:
        kept.append(text[pos:])
    return "".join(kept).strip()


def answer_text(response: str) -> str:
    """The model's answer: `response` without its reasoning blocks. A reasoning model's
    separate thinking text is never the answer, whatever it holds."""
    return strip_reasoning(response)


def find_json(text: str) -> Any:
    """The first JSON object or array in `text`, tolerating fences and prose around it.

    Raises ValueError when there is none.
    """
    candidates = [m.group(1) for m in FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        candidate = candidate.strip()
        try:
            return json.loads(candidate)
        except RecursionError:
            raise ValueError("the answer's JSON is nested too deeply") from None
        except ValueError:
            pass
        for match in itertools.islice(re.finditer(r"[\[{]", candidate), _MAX_JSON_STARTS):
            try:
                value, _ = decoder.raw_decode(candidate, match.start())
            except RecursionError:
                raise ValueError("the answer's JSON is nested too deeply") from None
            except ValueError:
                continue
            if isinstance(value, dict | list):
                return value
    raise ValueError("no JSON object found in the answer")


def parse_label_items(text: str) -> list[dict[str, Any] | str]:
    """Label items from a model answer: `{"labels": [...]}` or a bare list, of objects, strings
    ("dog", "dog:96") or [name, confidence, topicality] lists; or `{"labels": {"dog": 96}}`.

    Items are passed on as the model wrote them (normalisation is labels.py's job), a list item
    as the object it stands for; only items that are neither a named object nor a non-empty
    string are dropped. Raises ValueError with a short reason when the answer holds no label
    list, or none of its items is usable.
    """
    return label_items(find_json(text))


def label_items(value: object) -> list[dict[str, Any] | str]:
    """`parse_label_items` for an answer already decoded from JSON."""
    if isinstance(value, dict):
        key = _key(value, "labels")
        if key is None:
            raise ValueError(f"expected a \"labels\" list, got keys {sorted(map(str, value))[:5]}")
        value = value[key]
    if isinstance(value, dict) and value and all(
            isinstance(score, int | float) and not isinstance(score, bool)
            for score in value.values()):
        value = [[name, score] for name, score in value.items()]  # name -> confidence
    if not isinstance(value, list):
        raise ValueError(f"expected a list of labels, got {type(value).__name__}")
    items = [item for raw in value if (item := _item(raw)) is not None]
    if value and not items:
        raise ValueError(f"none of the {len(value)} label items has a name")
    return items


def _item(raw: object) -> dict[str, Any] | str | None:
    """A usable label item; a [name, confidence, topicality] list as the object it stands for."""
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        raw = dict(zip(("name", "confidence", "topicality"), raw, strict=False))
    if isinstance(raw, str):
        return raw if raw.strip() else None
    if isinstance(raw, dict) and any(isinstance(raw.get(k), str) and raw[k].strip()
                                     for k in LABEL_NAME_KEYS):
        return raw
    return None


def unwrap_caption(text: str) -> str:
    """The caption inside a fenced block or a JSON answer (`{"caption": ...}`, also nested as
    `{"caption": {"text": ...}}`), else `text` unchanged."""
    return unwrap_text(text, CAPTION_KEYS)


def unwrap_text(text: str, keys: tuple[str, ...]) -> str:
    """The text inside a fenced block or a JSON answer under one of `keys` (first match, also
    nested), else `text` unchanged."""
    fenced = FENCE.search(text)
    if fenced and fenced.group(1).strip():
        text = text[: fenced.start()] + fenced.group(1) + text[fenced.end() :]
    stripped = text.strip()
    if not stripped.startswith("{"):
        return text
    try:
        value: object = json.loads(stripped)
    except (ValueError, RecursionError):
        return text
    found = _text_value(value, keys)
    return found if found is not None else text


def _text_value(value: object, keys: tuple[str, ...], depth: int = 0) -> str | None:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or depth > 3:
        return None
    lowered = {str(k).lower(): v for k, v in value.items()}
    for key in keys:
        if key in lowered:
            found = _text_value(lowered[key], keys, depth + 1)
            if found is not None:
                return found
    return None


def _key(value: dict[Any, Any], name: str) -> Any:
    return next((k for k in value if isinstance(k, str) and k.lower() == name), None)


def generated_fields(text: str, types: tuple[str, ...]) -> dict[str, object]:
    """The fields of a combined answer (`{"caption": ..., "title": ..., "labels": [...]}`) that
    `types` asks for and the answer has; raises ValueError when it holds no JSON object."""
    value = find_json(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    found: dict[str, object] = {}
    for name in types:
        key = _key(value, name)
        if key is not None:
            found[name] = value[key]
    return found
