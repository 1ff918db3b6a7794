"""Default prompts for vision models, the JSON Schemas, language instructions and the hint a
prompt gets from the photo's own metadata. Shared by every HTTP engine.

Written for xmpvision, following the intent of PhotoPrism's prompts (not their text): labels
come back as JSON objects with name, confidence and topicality; a caption is one plain
sentence in active voice, main subject and action first; a title is a few words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from xmpvision.config.models import ModelConfig
from xmpvision.config.schema import response_schema
from xmpvision.text.languages import language_name

LABELS_SYSTEM = (
    "You are a careful photo tagging assistant for a searchable photo library. "
    "You look only at what is visible in the image and you answer with JSON only."
)

LABELS_PROMPT = (
    "List the things this photo shows: objects, animals, plants, people, places, activities "
    "and scenery. Use common nouns of one or two words, singular unless the word is only "
    "used in the plural, and return at most {max_labels} labels, most important first. For "
    "each label give `name`, `confidence` (0 to 1: how sure you are that it is visible) and "
    "`topicality` (0 to 1: how central it is to the photo)."
)

CAPTION_SYSTEM = "You write short, factual captions for a personal photo library."

CAPTION_PROMPT = (
    "Describe this photo in exactly one sentence in the active voice. Begin with the main "
    "subject and what it is doing, then add the most telling detail of the setting. Write "
    "plain text only: no lists, no quotation marks, no markdown and no opening phrase such "
    "as 'This image shows'."
)

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

TITLE_SYSTEM = "You give photos in a personal photo library short, plain titles."

TITLE_PROMPT = (
    "Give this photo a title of at most eight words that names its subject, the way a "
    "photographer titles a print. Write plain text only: no quotation marks, no markdown, no "
    "final full stop and no opening phrase such as 'Title:'."
)

GENERATE_SYSTEM = (
    "You describe photos for a searchable personal photo library. You look only at what is "
    "visible in the image and you answer with JSON only."
)

# What each field of a combined answer asks for, in the order the prompt lists them.
_GENERATE_FIELDS = {
    "caption": "`caption`: one sentence in the active voice, the main subject and what it is "
    "doing first, then the most telling detail of the setting",
    "title": "`title`: a title of at most eight words naming the subject, no final full stop",
    "labels": "`labels`: at most {max_labels} things the photo shows (objects, animals, "
    "plants, people, places, activities, scenery), common nouns of one or two words, singular, "
    "most important first, each with `name`, `confidence` (0 to 1: how sure you are that it "
    "is visible) and `topicality` (0 to 1: how central it is)",
}


def generate_schema(types: tuple[str, ...]) -> dict[str, Any]:
    """One JSON Schema for a combined answer of the given types (caption, title, labels)."""
    properties: dict[str, Any] = {}
    if "caption" in types:
        properties["caption"] = {"type": "string"}
    if "title" in types:
        properties["title"] = {"type": "string"}
    if "labels" in types:
        properties["labels"] = LABELS_SCHEMA["properties"]["labels"]
    return {"type": "object", "properties": properties, "required": list(properties)}


def generate_prompt(*, base: str | None, types: tuple[str, ...], max_labels: int,
                    language: str | None) -> str:
    """The prompt of a combined request: what each field holds, the schema, the language."""
    if base is not None:
        text = base.replace("{max_labels}", str(max_labels)).strip()
    else:
        fields = "; ".join(_GENERATE_FIELDS[t] for t in ("caption", "title", "labels")
                           if t in types).replace("{max_labels}", str(max_labels))
        text = f"Describe this photo with one JSON object holding {fields}."
    parts = [text, "Respond with one JSON object that follows this JSON Schema, and nothing "
             "else: " + json.dumps(generate_schema(types), separators=(",", ":"))]
    if language:
        parts.append(f"Write the text values in {language_name(language)}; keep the JSON keys "
                     "in English.")
    return "\n\n".join(parts)


def title_prompt(*, base: str | None, language: str | None) -> str:
    text = (base if base is not None else TITLE_PROMPT).strip()
    if language:
        text = f"{text} Respond in {language_name(language)}."
    return text


def with_hints(prompt: str, hints: dict[str, str]) -> str:
    """The prompt with the photo's own facts: as template variables where the prompt names
    them (`{date}`, `{place}`, `{keywords}`, `{title}`), else as one short hint sentence at
    the end. The model sees the hints; nothing of them is written to the sidecar as its own."""
    used = False
    for name in ("date", "place", "keywords", "title"):
        marker = "{" + name + "}"
        if marker in prompt:
            prompt = prompt.replace(marker, hints.get(name, ""))
            used = True
    if used or not hints:
        return prompt
    facts = []
    if "date" in hints:
        facts.append(f"taken on {hints['date']}")
    if "place" in hints:
        facts.append(f"in {hints['place']}")
    if "keywords" in hints:
        facts.append(f"the owner's keywords: {hints['keywords']}")
    if "title" in hints:
        facts.append(f"the owner's title: {hints['title']}")
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


def caption_prompt(*, base: str | None, language: str | None) -> str:
    """The caption prompt, with "Respond in <Language>." appended when a language is set."""
    text = (base if base is not None else CAPTION_PROMPT).strip()
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
    """The question for `kind` (labels, caption, title, generate) put to `model`. The entry's
    own System, Prompt, Schema and Format apply to the type it was configured for."""
    own = model.type == kind
    base = model.prompt if own else None
    own_schema = response_schema(model) if own else None
    json_mode = own and (model.format or "").strip().lower() == "json"
    language = model.language
    if kind == "labels":
        schema: dict[str, Any] | None = own_schema or LABELS_SCHEMA
        prompt = labels_prompt(base=base, schema=schema, max_labels=model.label_limit,
                               language=language)
        system = LABELS_SYSTEM
    elif kind == "generate":
        schema = own_schema or generate_schema(types)
        prompt = generate_prompt(base=base, types=types, max_labels=model.label_limit,
                                 language=language)
        system = GENERATE_SYSTEM
    elif kind == "title":
        schema, prompt, system = own_schema, title_prompt(base=base, language=language), \
            TITLE_SYSTEM
    else:
        schema, prompt, system = own_schema, caption_prompt(base=base, language=language), \
            CAPTION_SYSTEM
    if own and model.system is not None:
        system = model.system
    return Question(system=system or None, prompt=with_hints(prompt, hints or {}),
                    schema=schema, json_mode=json_mode)
