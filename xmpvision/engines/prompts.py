"""Default prompts for vision models, the JSON Schemas, language instructions and the hint a
prompt gets from the photo's own metadata. Shared by every HTTP engine.

Written for xmpvision, following the intent of PhotoPrism's prompts (not their text), in fewer
answer tokens: labels come back as a JSON list of "name:confidence" strings (PhotoPrism asks
for objects with name, confidence and topicality; those are still read); a caption is one
plain sentence in active voice, main subject and action first; a title is a few words.
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

# Labels come back as short strings, "name:confidence" with the confidence in whole percent (the
# precision the thresholds have), not as {"name", "confidence", "topicality"} objects: the
# answer's tokens are most of a photo's GPU time, and repeated keys are most of those objects.
# Topicality is asked for only when a Topicality threshold filters on it; without it a label's
# topicality (and so its priority) is its confidence, PhotoPrism's rule for a missing one.
LABEL_FORMAT = ('each written as "name:confidence", the confidence a whole number from 0 to '
                "100 for how sure you are that it is visible")
LABEL_FORMAT_TOPICALITY = ('each written as "name:confidence:topicality", two whole numbers '
                           "from 0 to 100: how sure you are that it is visible, and how "
                           "central it is to the photo")
# The objects PhotoPrism's label prompts ask for: what an entry's own Prompt or Schema, written
# for them, gets.
LABEL_FORMAT_OBJECTS = ("each with `name`, `confidence` (0 to 1: how sure you are that it is "
                        "visible) and `topicality` (0 to 1: how central it is to the photo)")

# A list of "name:confidence[:topicality]" strings: accepted by every server's structured
# outputs, strict mode included; the prompt says what the strings hold.
LABELS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"labels": {"type": "array", "items": {"type": "string"}}},
    "required": ["labels"],
}
LABEL_OBJECTS_SCHEMA: dict[str, Any] = {
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
LABEL_OBJECTS_EXAMPLE: dict[str, Any] = {
    "labels": [
        {"name": "dog", "confidence": 0.96, "topicality": 0.9},
        {"name": "beach", "confidence": 0.85, "topicality": 0.6},
    ]
}


@dataclass(frozen=True)
class LabelShape:
    """How the labels of an answer are asked for: compact strings (xmpvision's own prompt and
    schema), with a topicality or not, or PhotoPrism's objects (an entry's own Prompt or
    Schema: the words it was written for)."""

    compact: bool = True
    topicality: bool = False

    @property
    def format(self) -> str:
        if not self.compact:
            return LABEL_FORMAT_OBJECTS
        return LABEL_FORMAT_TOPICALITY if self.topicality else LABEL_FORMAT

    @property
    def schema(self) -> dict[str, Any]:
        return LABELS_SCHEMA if self.compact else LABEL_OBJECTS_SCHEMA

    @property
    def example(self) -> dict[str, Any]:
        if not self.compact:
            return LABEL_OBJECTS_EXAMPLE
        return {"labels": ["dog:96:90", "beach:85:60"] if self.topicality
                else ["dog:96", "beach:85"]}

    def said(self, text: str) -> str:
        """`text` with its {label_format} said: how each label is written."""
        return text.replace("{label_format}", self.format)


COMPACT = LabelShape()


GENERATE_SYSTEM = (
    "You describe photos for a searchable personal photo library. You look only at what is "
    "visible in the image and you answer with JSON only."
)

def generate_schema(types: tuple[str, ...], shape: LabelShape = COMPACT) -> dict[str, Any]:
    """One JSON Schema for a combined answer of the given types: a string per text type, the
    labels list for keywords."""
    properties: dict[str, Any] = {
        row.name: shape.schema["properties"]["labels"] if row.shape == "keywords"
        else {"type": "string"}
        for row in modeltypes.GENERATE_ORDER if row.name in types
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def generate_prompt(*, base: str | None, types: tuple[str, ...], max_labels: int,
                    language: str | None, shape: LabelShape = COMPACT,
                    schema: dict[str, Any] | None = None) -> str:
    """The prompt of a combined request: what each field holds, the schema, the language."""
    if base is not None:
        text = base.replace("{max_labels}", str(max_labels)).strip()
    else:
        fields = "; ".join(row.ask for row in modeltypes.GENERATE_ORDER
                           if row.name in types).replace("{max_labels}", str(max_labels))
        text = f"Describe this photo with one JSON object holding {fields}."
    parts = [shape.said(text), "Respond with one JSON object that follows this JSON Schema, "
             "and nothing else: " + json.dumps(schema or generate_schema(types, shape),
                                               separators=(",", ":"))]
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
    *, base: str | None, schema: dict[str, Any] | None, max_labels: int, language: str | None,
    shape: LabelShape = COMPACT,
) -> str:
    """The labels prompt: instructions, then the schema and an example of the JSON.

    The schema and example are spelled out even when `format` carries the schema, because
    older models and Ollama versions ignore `format` and follow only the text.
    """
    # Plain replace, not str.format: user prompts often contain JSON braces.
    text = (base if base is not None else LABELS_PROMPT).replace("{max_labels}", str(max_labels))
    parts = [shape.said(text).strip()]
    if schema is not None:
        parts.append(
            "Respond with one JSON object that follows this JSON Schema, and nothing else: "
            + json.dumps(schema, separators=(",", ":"))
        )
    parts.append("Example: " + json.dumps(shape.example, separators=(",", ":")))
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
             hints: dict[str, str] | None = None, topicality: bool = False) -> Question:
    """The question for `kind` (an output type, or generate) put to `model`. The entry's
    own System, Prompt, Schema and Format apply to the type it was configured for.
    `topicality`: labels carry a topicality too (a Topicality threshold filters on it)."""
    own = model.type == kind
    base = model.prompt if own else None
    own_schema = response_schema(model) if own else None
    json_mode = own and (model.format or "").strip().lower() == "json"
    language = model.language
    # Compact labels only where xmpvision writes both the prompt and the schema.
    shape = LabelShape(compact=base is None and own_schema is None, topicality=topicality)
    if kind != "generate" and modeltypes.row(kind).shape == "keywords":
        schema: dict[str, Any] | None = own_schema or shape.schema
        prompt = labels_prompt(base=base, schema=schema, max_labels=model.label_limit,
                               language=language, shape=shape)
        system = LABELS_SYSTEM
    elif kind == "generate":
        schema = own_schema or generate_schema(types, shape)
        prompt = generate_prompt(base=base, types=types, max_labels=model.label_limit,
                                 language=language, shape=shape, schema=schema)
        system = GENERATE_SYSTEM
    else:
        schema = own_schema
        prompt = text_prompt(kind, base=base, language=language)
        system = modeltypes.row(kind).system
    if own and model.system is not None:
        system = model.system
    return Question(system=system or None, prompt=with_hints(prompt, hints or {}),
                    schema=schema, json_mode=json_mode)
