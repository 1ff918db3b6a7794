"""The model types as one table: what each type asks a model, how its answer is cleaned, where
it goes in a sidecar, who owns it there, how it is reported and when its built-in model runs.

Config (the allowed `Type` values, the types a schedule runs), the prompts, the answer
parsing, the sidecar merge and `vision reset`, the provenance records and the NDJSON records
all read this table; a type list anywhere else is derived from it. To add a type, add a row.

Two shapes exist. A keywords type (labels) is a list of scored names merged keyword by
keyword: one the user removed is never added again. A text type (caption, title) is one
cleaned text written as a Lang Alt: ours while its hash is unchanged, the user's once edited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from xmpvision.runmodes import RunMode
from xmpvision.text.captions import clean_caption
from xmpvision.text.titles import clean_title
from xmpvision.text.untrusted import xml_caption

Shape = Literal["keywords", "text"]
# Cleans a model's answer: (answer, language asked for, the model's MaxLength) -> the text;
# raises InvalidPayload when nothing usable is left.
Cleaner = Callable[[str, str | None, int], str]

DC = "http://purl.org/dc/elements/1.1/"
MAX_TITLE_CHARS = 200  # titles are short; this only bounds what a caller passes in


@dataclass(frozen=True)
class XmpField:
    """A sidecar property: its namespace's usual prefix, the namespace URI, its local name."""

    prefix: str
    uri: str
    local: str


@dataclass(frozen=True)
class ModelTypeRow:
    """One model type."""

    name: str  # as vision.yml's Type, `-m`, schedules' Models and the state database say it
    noun: str  # in messages: "invalid caption payload", "title kept: ..."
    shape: Shape  # the question's shape: a keyword list (JSON) or one free text
    field: XmpField  # where its values go (keywords: dc:subject, their paths beside it)
    run: RunMode  # when the built-in model of the type runs (Run of a `Default: true` entry)
    system: str  # the default system prompt of a request for this type alone
    # the default prompt of such a request ({max_labels}: MaxLabels; {label_format}: how each
    # label is written, prompts.py's)
    prompt: str
    ask: str  # what the type's field of a combined (generate) answer holds
    # Text types: the answer cleaner, and the text as stored (XML-safe, capped).
    clean: Cleaner | None = None
    stored: Callable[[str], str] = xml_caption
    # Text types: the local name of our provenance record (namespace xmpvision:). Stable:
    # sidecars written by every earlier version hold these names.
    record: str = ""
    # Text types: its property is refused up front when in a form we cannot merge (the
    # whole sidecar is left alone); otherwise only when a value of it is written or ours.
    strict: bool = False
    # Text types: photoshop:CaptionWriter is filled with our name when empty, and our
    # record says so, so that a reset takes it out again.
    caption_writer: bool = False
    # NDJSON: the record's key for the value, and the value's attributes reported beside
    # it as "<key>_<attribute>".
    key: str = ""
    reported: tuple[str, ...] = ("source",)

    @property
    def ownership(self) -> str:
        """The ownership rule the sidecar merge applies (see sidecar/merge.py)."""
        return ("per keyword; one the user removed is never added again"
                if self.shape == "keywords" else
                "whole text; ours while its hash is unchanged, the user's once edited")

    def ndjson_keys(self) -> tuple[str, ...]:
        return (self.key, *(f"{self.key}_{name}" for name in self.reported))


def _one_line(text: str) -> str:
    """A title as stored: one line, XML-safe, capped."""
    return " ".join(xml_caption(text).split())[:MAX_TITLE_CHARS].rstrip()


LABELS = ModelTypeRow(
    name="labels", noun="label", shape="keywords", field=XmpField("dc", DC, "subject"),
    run=RunMode.AUTO,
    system="You are a careful photo tagging assistant for a searchable photo library. You "
    "look only at what is visible in the image and you answer with JSON only.",
    prompt="List the things this photo shows: objects, animals, plants, people, places, "
    "activities and scenery. Use common nouns of one or two words, singular unless the word "
    "is only used in the plural, and return at most {max_labels} labels, most important "
    "first, {label_format}.",
    ask="`labels`: at most {max_labels} things the photo shows (objects, animals, plants, "
    "people, places, activities, scenery), common nouns of one or two words, singular, most "
    "important first, {label_format}",
    key="labels", reported=(),
)
CAPTION = ModelTypeRow(
    name="caption", noun="caption", shape="text", field=XmpField("dc", DC, "description"),
    run=RunMode.AUTO,
    system="You write short, factual captions for a personal photo library.",
    prompt="Describe this photo in exactly one sentence in the active voice. Begin with the "
    "main subject and what it is doing, then add the most telling detail of the setting. "
    "Write plain text only: no lists, no quotation marks, no markdown and no opening phrase "
    "such as 'This image shows'.",
    ask="`caption`: one sentence in the active voice, the main subject and what it is doing "
    "first, then the most telling detail of the setting",
    clean=lambda text, language, limit: clean_caption(text, language=language,
                                                      max_length=limit),
    record="Caption", strict=True, caption_writer=True,
    key="caption", reported=("source", "language"),
)
TITLE = ModelTypeRow(
    name="title", noun="title", shape="text", field=XmpField("dc", DC, "title"),
    # Manual only, so that existing set-ups do not start writing titles on scans.
    run=RunMode.MANUAL,
    system="You give photos in a personal photo library short, plain titles.",
    prompt="Give this photo a title of at most eight words that names its subject, the way "
    "a photographer titles a print. Write plain text only: no quotation marks, no markdown, "
    "no final full stop and no opening phrase such as 'Title:'.",
    ask="`title`: a title of at most eight words naming the subject, no final full stop",
    clean=lambda text, language, _limit: clean_title(text, language=language),
    stored=_one_line,
    # Not "Title": exiftool would show it instead of dc:title under that tag name.
    record="TitleRecord",
    key="title",
)

TYPES: tuple[ModelTypeRow, ...] = (LABELS, CAPTION, TITLE)
BY_NAME: dict[str, ModelTypeRow] = {row.name: row for row in TYPES}
TEXT_TYPES: tuple[ModelTypeRow, ...] = tuple(row for row in TYPES if row.shape == "text")

# The types xmpvision runs, in the order it reports them.
OUTPUT_TYPES: tuple[str, ...] = tuple(BY_NAME)
# A model that answers several output types in one request.
GENERATE = "generate"
# PhotoPrism types a vision.yml may hold; accepted and ignored.
IGNORED_TYPES: tuple[str, ...] = ("nsfw", "face")
MODEL_TYPES: tuple[str, ...] = (*OUTPUT_TYPES, GENERATE, *IGNORED_TYPES)
# The fields of a combined answer in the order its prompt lists them: texts, then keywords.
GENERATE_ORDER: tuple[ModelTypeRow, ...] = (*TEXT_TYPES,
                                            *(r for r in TYPES if r.shape == "keywords"))

if TYPE_CHECKING:
    OutputTypeName = str
    ModelTypeName = str
else:  # the Literal pydantic validates against (and names in its messages), from the table
    OutputTypeName = Literal[OUTPUT_TYPES]
    ModelTypeName = Literal[MODEL_TYPES]


def row(name: str) -> ModelTypeRow:
    """The row of an output type; ValueError names the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown model type {name!r}; allowed: "
                         f"{', '.join(OUTPUT_TYPES)}") from None


def field_namespaces() -> dict[str, str]:
    """prefix -> URI of every property the table writes to."""
    return {r.field.prefix: r.field.uri for r in TYPES}
