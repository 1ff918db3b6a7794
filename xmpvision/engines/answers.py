"""A vision model's answer turned into results, the same for every engine that talks to a
language model: one type's answer (modeltypes says how each is cleaned), or several from one
combined answer."""

from __future__ import annotations

from dataclasses import dataclass, replace

from xmpvision import modeltypes
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.classifier.rules import categories_for
from xmpvision.errors import InvalidPayload
from xmpvision.results import GeneratedText, Label, PhotoResult, Usage
from xmpvision.text.answers import (
    answer_text,
    generated_fields,
    label_items,
    parse_label_items,
)
from xmpvision.text.labels import RawLabel, normalize_labels

# What a language-model engine is asked: an output type's name (modeltypes) or "generate".
Kind = str
MAX_ANSWER_CHARS = 262_144  # a runaway generation is cut off rather than buffered forever


@dataclass(frozen=True)
class Reply:
    """What a server sent for one question, before it is used."""

    text: str  # the answer
    reasoning: str = ""  # a reasoning model's thoughts, sent apart (never the answer)
    cut: bool = False  # stopped at the token budget or the context ("length")
    tokens: int | None = None  # tokens generated, when the server counted them
    prompt_tokens: int | None = None  # tokens of the prompt, when the server counted them
    prompt_chars: int = 0  # characters of prompt text sent (Usage.prompt_chars)

    @property
    def usage(self) -> Usage:
        return Usage(self.tokens, self.prompt_tokens, self.prompt_chars)


def finished_answer(reply: Reply, who: str, budget: str) -> Reply:
    """The reply with its answer text, when it is complete and is an answer; else
    InvalidPayload (this photo falls back). A cut caption is not a caption and cut JSON is not
    labels, so a "length" answer is never used; reasoning, even the only text there is, is
    never the answer. `who` names the engine and model, `budget` the setting that raises the
    token budget."""
    error = None
    if reply.cut:
        at = f" at {reply.tokens} tokens" if reply.tokens else ""
        thinking = " while still reasoning" if reply.reasoning and not reply.text.strip() else ""
        error = InvalidPayload(f"the answer from {who} was cut off{at}{thinking}; raise {budget}")
    text = answer_text(reply.text)
    if error is None and not text and (reply.reasoning.strip() or reply.text.strip()):
        error = InvalidPayload(f"{who} answered with reasoning only, no answer; raise {budget} "
                               "or turn its reasoning off")
    if error is not None:
        error.spent = reply.usage
        raise error
    return replace(reply, text=text)


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
            raise self.invalid(modeltypes.LABELS.noun, photo, str(exc)) from exc
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

    def text(self, kind: str, text: str, photo: object) -> GeneratedText:
        """A text type's answer, cleaned as its row says."""
        row = modeltypes.row(kind)
        assert row.clean is not None, f"{kind} is not a text type"
        model = self.model
        try:
            cleaned = row.clean(text, model.language, model.caption_limit)
        except InvalidPayload as exc:
            raise self.invalid(row.noun, photo, str(exc)) from exc
        return GeneratedText(text=cleaned, source=self.source, model=model.model_ref,
                             engine=self.engine, language=model.language)

    def single(self, kind: str, text: str, photo: object) -> PhotoResult:
        """One type's answer as a result holding just that type's value; an unusable answer
        raises InvalidPayload."""
        result = PhotoResult()
        if modeltypes.row(kind).shape == "keywords":
            result.labels = self.labels(text, photo)
        else:
            result.set_text(kind, self.text(kind, text, photo))
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
                row = modeltypes.row(name)
                if row.shape == "keywords":
                    try:
                        result.labels = self._labels(label_items(value))
                    except ValueError as exc:
                        raise self.invalid(row.noun, photo, str(exc)) from exc
                elif not isinstance(value, str):
                    raise self.invalid(name, photo, f"{name!r} is not text")
                else:
                    result.set_text(name, self.text(name, value, photo))
            except InvalidPayload as exc:
                result.errors[name] = str(exc)
        return result
