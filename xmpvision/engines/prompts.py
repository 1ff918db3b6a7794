"""Default prompts for vision models, the label JSON Schema, and language instructions.

Written for xmpvision, following the intent of PhotoPrism's prompts (not their text): labels
come back as JSON objects with name, confidence and topicality; a caption is one plain
sentence in active voice, main subject and action first.
"""

from __future__ import annotations

import json
from typing import Any

from xmpvision.text.languages import language_name

DEFAULT_MAX_LABELS = 10

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

