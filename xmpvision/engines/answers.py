"""A vision model's answer turned into results, the same for every engine that talks to a
language model: labels, a caption, a title, or all of them from one combined answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.classifier.rules import categories_for
from xmpvision.errors import InvalidPayload
from xmpvision.results import Caption, Label, PhotoResult, Title
from xmpvision.text.answers import generated_fields, label_items, parse_label_items
from xmpvision.text.captions import clean_caption
from xmpvision.text.labels import RawLabel, normalize_labels
from xmpvision.text.titles import clean_title

# What a language-model engine is asked.
Kind = Literal["labels", "caption", "title", "generate"]
MAX_ANSWER_CHARS = 262_144  # a runaway generation is cut off rather than buffered forever


@dataclass(frozen=True)
class Answering:
    """Who answered, as the results record it."""

    model: ModelConfig
    thresholds: Thresholds
    source: str
    engine: str

    def invalid(self, what: str, photo: object, reason: str) -> InvalidPayload:
        return InvalidPayload(f"invalid {what} payload from {self.engine} "
                              f"(model {self.model.model_ref}, file {photo}): {reason}")

    def labels(self, text: str, photo: object) -> list[Label]:
        try:
            items = parse_label_items(text)
        except ValueError as exc:
            raise self.invalid("label", photo, str(exc)) from exc
        return self._labels(items)

    def _labels(self, items: list[dict[str, object] | str] | list[RawLabel]) -> list[Label]:
        model = self.model
        labels = normalize_labels(
            items, source=self.source, model=model.model_ref, engine=self.engine,
            language=model.language, confidence_threshold=self.thresholds.confidence,
            topicality_threshold=self.thresholds.topicality, max_labels=model.label_limit,
            mode=model.normalize_mode,
        )
        if model.language and not model.language.lower().startswith("en"):
            return labels  # the table's keywords are English
        # A keyword the classifiers' table knows nests under the same categories
        # (Animal|Pet|Cat), whichever model found it.
        return [replace(label, categories=label.categories or categories_for(label.name))
                for label in labels]

    def caption(self, text: str, photo: object) -> Caption:
        model = self.model
        try:
            cleaned = clean_caption(text, language=model.language, max_length=model.caption_limit)
        except InvalidPayload as exc:
            raise self.invalid("caption", photo, str(exc)) from exc
        return Caption(text=cleaned, source=self.source, model=model.model_ref,
                       engine=self.engine, language=model.language)

    def title(self, text: str, photo: object) -> Title:
        model = self.model
        try:
            cleaned = clean_title(text, language=model.language)
        except InvalidPayload as exc:
            raise self.invalid("title", photo, str(exc)) from exc
        return Title(text=cleaned, source=self.source, model=model.model_ref,
                     engine=self.engine, language=model.language)

    def single(self, kind: str, text: str, photo: object) -> PhotoResult:
        """One type's answer as a result holding just that type's value; an unusable answer
        raises InvalidPayload."""
        result = PhotoResult()
        if kind == "labels":
            result.labels = self.labels(text, photo)
        elif kind == "caption":
            result.caption = self.caption(text, photo)
        elif kind == "title":
            result.title = self.title(text, photo)
        else:
            raise ValueError(f"unknown model type {kind!r}")
        return result

    def generated(self, text: str, types: tuple[str, ...], photo: object) -> PhotoResult:
        """Each asked-for type from one combined answer; a type the answer lacks, or holds
        in an unusable form, is in `errors` (its own chain then answers it)."""
        try:
            fields = generated_fields(text, types)
        except ValueError as exc:
            raise self.invalid("generate", photo, str(exc)) from exc
        result = PhotoResult()
        for name in types:
            value = fields.get(name)
            try:
                if value is None:
                    raise self.invalid(name, photo, f"the answer has no {name!r}")
                if name == "labels":
                    try:
                        result.labels = self._labels(label_items(value))
                    except ValueError as exc:
                        raise self.invalid("label", photo, str(exc)) from exc
                elif not isinstance(value, str):
                    raise self.invalid(name, photo, f"{name!r} is not text")
                elif name == "caption":
                    result.caption = self.caption(value, photo)
                else:
                    result.title = self.title(value, photo)
            except InvalidPayload as exc:
                result.errors[name] = str(exc)
        return result
