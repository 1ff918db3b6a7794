"""Default prompts for vision models, the JSON Schemas, language instructions and the hint a
prompt gets from the photo's own metadata. Shared by every HTTP engine.

Written for xmpvision, following the intent of PhotoPrism's prompts (not their text): labels
come back as JSON objects with name, confidence and topicality; a caption is one plain
sentence in active voice, main subject and action first; a title is a few words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from xmpvision import modeltypes
from xmpvision.config.models import ModelConfig
from xmpvision.config.schema import response_schema
from xmpvision.text.languages import language_name

# Each type's own question (system prompt, prompt) is its row in the model-type table.
LABELS_SYSTEM = modeltypes.LABELS.system
LABELS_PROMPT = modeltypes.LABELS.prompt
CAPTION_SYSTEM = modeltypes.CAPTION.system
CAPTION_PROMPT = modeltypes.CAPTION.prompt

LABELS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "labels": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "topicality": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "required": ["name", "confidence", "topicality"],
            },
        }
    },
    "required": ["labels"],
}

LABELS_EXAMPLE: dict[str, Any] = {
    "labels": [
        {"name": "dog", "confidence": 0.96, "topicality": 0.9},
        {"name": "beach", "confidence": 0.85, "topicality": 0.6},
    ]
}

GENERATE_SYSTEM = (
    "You describe photos for a searchable personal photo library. You look only at what is "
    "visible in the image and you answer with JSON only."
)

def generate_schema(types: tuple[str, ...]) -> dict[str, Any]:
    """One JSON Schema for a combined answer of the given types: a string per text type, the
    labels list for keywords."""
    properties: dict[str, Any] = {
        row.name: LABELS_SCHEMA["properties"]["labels"] if row.shape == "keywords"
        else {"type": "string"}
        for row in modeltypes.GENERATE_ORDER if row.name in types
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def generate_prompt(*, base: str | None, types: tuple[str, ...], max_labels: int,
                    language: str | None) -> str:
    """The prompt of a combined request: what each field holds, the schema, the language."""
    if base is not None:
        text = base.replace("{max_labels}", str(max_labels)).strip()
    else:
        fields = "; ".join(row.ask for row in modeltypes.GENERATE_ORDER
                           if row.name in types).replace("{max_labels}", str(max_labels))
        text = f"Describe this photo with one JSON object holding {fields}."
    parts = [text, "Respond with one JSON object that follows this JSON Schema, and nothing "
             "else: " + json.dumps(generate_schema(types), separators=(",", ":"))]
    if language:
        parts.append(f"Write the text values in {language_name(language)}; keep the JSON keys "
                     "in English.")
    return "\n\n".join(parts)


_HINT_MARKER = re.compile(r"\{(date|place|keywords|title|people|vocabulary)\}")


def with_hints(prompt: str, hints: dict[str, str]) -> str:
    """The prompt with the photo's own facts: as template variables where the prompt names
    them (`{date}`, `{place}`, `{keywords}`, `{title}`, `{people}`, `{vocabulary}`), else as
    one short hint
    sentence at the end. The model sees the hints; nothing of them is written to the sidecar
    as its own."""
    # One pass: a hint's text that reads "{title}" is the owner's text, never a marker.
    replaced = _HINT_MARKER.sub(lambda found: hints.get(found.group(1), ""), prompt)
    if _HINT_MARKER.search(prompt) or not hints:
        return replaced
    facts = []
    if "date" in hints:
        facts.append(f"taken on {hints['date']}")
    if "place" in hints:
        facts.append(f"in {hints['place']}")
    if "keywords" in hints:
        facts.append(f"the owner's keywords: {hints['keywords']}")
    if "title" in hints:
        facts.append(f"the owner's title: {hints['title']}")
    if "people" in hints:
        facts.append(f"people in this photo: {hints['people']}")
    if "vocabulary" in hints:
        facts.append(f"the owner's keyword list (use these words where they fit): "
                     f"{hints['vocabulary']}")
    return (f"{prompt}\n\nWhat the photo's own metadata says (use it only where it fits what "
            f"you see): {'; '.join(facts)}.")


def labels_prompt(
    *, base: str | None, schema: dict[str, Any] | None, max_labels: int, language: str | None
) -> str:
    """The labels prompt: instructions, then the schema and an example of the JSON.

    The schema and example are spelled out even when `format` carries the schema, because
    older models and Ollama versions ignore `format` and follow only the text.
    """
    # Plain replace, not str.format: user prompts often contain JSON braces.
    text = (base if base is not None else LABELS_PROMPT).replace("{max_labels}", str(max_labels))
    parts = [text.strip()]
    if schema is not None:
        parts.append(
            "Respond with one JSON object that follows this JSON Schema, and nothing else: "
            + json.dumps(schema, separators=(",", ":"))
        )
    parts.append("Example: " + json.dumps(LABELS_EXAMPLE, separators=(",", ":")))
    if language:
        name = language_name(language)
        parts.append(f"Write the label names in {name}; keep the JSON keys in English.")
    return "\n\n".join(parts)


def text_prompt(kind: str, *, base: str | None, language: str | None) -> str:
    """A text type's prompt, with "Respond in <Language>." appended when a language is set."""
    text = (base if base is not None else modeltypes.row(kind).prompt).strip()
    if language:
        text = f"{text} Respond in {language_name(language)}."
    return text


@dataclass(frozen=True)
class Question:
    """What one request asks, whatever the wire format: the engines turn it into theirs."""

    system: str | None
    prompt: str
    schema: dict[str, Any] | None  # the JSON Schema the answer must follow, if any
    json_mode: bool  # Format: json (any JSON object) instead of a schema


def question(model: ModelConfig, kind: str, *, types: tuple[str, ...] = (),
             hints: dict[str, str] | None = None) -> Question:
    """The question for `kind` (an output type, or generate) put to `model`. The entry's
    own System, Prompt, Schema and Format apply to the type it was configured for."""
    own = model.type == kind
    base = model.prompt if own else None
    own_schema = response_schema(model) if own else None
    json_mode = own and (model.format or "").strip().lower() == "json"
    language = model.language
    if kind != "generate" and modeltypes.row(kind).shape == "keywords":
        schema: dict[str, Any] | None = own_schema or LABELS_SCHEMA
        prompt = labels_prompt(base=base, schema=schema, max_labels=model.label_limit,
                               language=language)
        system = LABELS_SYSTEM
    elif kind == "generate":
        schema = own_schema or generate_schema(types)
        prompt = generate_prompt(base=base, types=types, max_labels=model.label_limit,
                                 language=language)
        system = GENERATE_SYSTEM
    else:
        schema = own_schema
        prompt = text_prompt(kind, base=base, language=language)
        system = modeltypes.row(kind).system
    if own and model.system is not None:
        system = model.system
    return Question(system=system or None, prompt=with_hints(prompt, hints or {}),
                    schema=schema, json_mode=json_mode)
