"""What a vision model answered, before it is a label or a caption: reasoning blocks, code
fences, JSON somewhere in prose. Every engine's answer goes through here (one copy of each
rule), so a reasoning model or a fenced answer behaves the same whichever server sent it.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Reasoning models (qwen3, deepseek-r1, gemma with "think") put their thoughts in these tags.
_THINK_TAGS = ("think", "thinking", "thought", "reasoning", "reflection")
_THINK_BLOCK = re.compile(
    r"<(" + "|".join(_THINK_TAGS) + r")\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_THINK_OPEN = re.compile(r"<(?:" + "|".join(_THINK_TAGS) + r")\b[^>]*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:" + "|".join(_THINK_TAGS) + r")\s*>", re.IGNORECASE)
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
    text = _THINK_BLOCK.sub(" ", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opening = _THINK_OPEN.search(text)
    if opening:
        text = text[: opening.start()]
    return text.strip()


def answer_text(response: str, thinking: str = "") -> str:
    """The model's answer: `response`, or `thinking` when a reasoning model left response empty."""
    text = strip_reasoning(response)
    return text if text else strip_reasoning(thinking)


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
        for match in re.finditer(r"[\[{]", candidate):
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
    items: list[dict[str, Any] | str] = [raw for raw in value if _usable_item(raw)]
    if value and not items:
        raise ValueError(f"none of the {len(value)} label items has a name")
    return items


def _usable_item(raw: object) -> bool:
    if isinstance(raw, str):
        return bool(raw.strip())
    if isinstance(raw, dict):
        return any(isinstance(raw.get(k), str) and raw[k].strip() for k in LABEL_NAME_KEYS)
    return False


def unwrap_caption(text: str) -> str:
    """The caption inside a fenced block or a JSON answer (`{"caption": ...}`, also nested as
    `{"caption": {"text": ...}}`), else `text` unchanged."""
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
    found = _caption_value(value)
    return found if found is not None else text


def _caption_value(value: object, depth: int = 0) -> str | None:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or depth > 3:
        return None
    lowered = {str(k).lower(): v for k, v in value.items()}
    for key in CAPTION_KEYS:
        if key in lowered:
            found = _caption_value(lowered[key], depth + 1)
            if found is not None:
                return found
    return None
