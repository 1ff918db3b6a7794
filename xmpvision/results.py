"""Result values that flow from the engines through normalisation to the sidecar writer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """What one request to a language model cost, as far as it is known: the characters of
    prompt text sent (system and user prompt, the owner's hints included; not the image) and
    the prompt and answer tokens its server counted. None: the server did not count them
    (Ollama leaves `prompt_eval_count` out for a prompt it had cached), never taken as 0."""

    tokens: int | None = None  # answer tokens
    prompt_tokens: int | None = None
    prompt_chars: int = 0


@dataclass(frozen=True)
class Label:
    """One keyword produced by a model, already normalised (see labels.py)."""

    name: str
    confidence: float  # 0..1
    source: str  # "ollama", "image" or a --source override
    model: str  # e.g. "gemma4:latest" or "nasnet"
    engine: str  # as in vision.yml's Engine
    topicality: float = 0.0  # 0..1
    priority: int = 0  # PhotoPrism's -3..5 scale, from topicality
    # Broader keywords, broadest first ("Animal", "Pet" for "Cat"): nested above the keyword in
    # the hierarchical keyword fields, never written to dc:subject.
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class GeneratedText:
    """A text a model wrote for a photo, already cleaned."""

    text: str
    source: str
    model: str
    engine: str
    language: str | None = None  # BCP-47 tag requested from the model, if any
    confidence: float = 1.0


# What the engines' per-type methods return; one class, as every text type is one free text.
Caption = GeneratedText
Title = GeneratedText


@dataclass(init=False)
class PhotoResult:
    """What the chain produced for one photo, per model type."""

    labels: list[Label] | None  # None: labels were not asked for / not produced
    texts: dict[str, GeneratedText]  # text type (modeltypes) -> its text; absent: none
    models: dict[str, str]  # type -> "engine:model" that answered
    sources: dict[str, str]  # type -> its values' source
    errors: dict[str, str]  # type -> why every model failed
    # type -> the better models that were down, so a fallback answered it (redone once they
    # are back), or, for a type in `errors`, while it failed
    fallback: dict[str, list[str]]
    # (request kind: a type or "generate", what it cost) for each answer, used or not
    tokens: list[tuple[str, Usage]]

    def __init__(
        self, labels: list[Label] | None = None, texts: dict[str, GeneratedText] | None = None,
        models: dict[str, str] | None = None, sources: dict[str, str] | None = None,
        errors: dict[str, str] | None = None, fallback: dict[str, list[str]] | None = None,
        *, caption: GeneratedText | None = None, title: GeneratedText | None = None,
        tokens: list[tuple[str, Usage]] | None = None,
    ) -> None:
        self.labels = labels
        self.texts = dict(texts or {})
        self.models = models if models is not None else {}
        self.sources = sources if sources is not None else {}
        self.errors = errors if errors is not None else {}
        self.fallback = fallback if fallback is not None else {}
        self.tokens = list(tokens or ())
        # caption= and title= are shorthands for those entries of `texts`.
        for model_type, text in (("caption", caption), ("title", title)):
            if text is not None:
                self.texts[model_type] = text

    def value(self, model_type: str) -> list[Label] | GeneratedText | None:
        """The type's value: labels, or the type's text."""
        return self.labels if model_type == "labels" else self.texts.get(model_type)

    def set_value(self, model_type: str, value: list[Label] | GeneratedText | None) -> None:
        """Set the type's value (what `value` returns), e.g. from another result."""
        if model_type == "labels":
            assert not isinstance(value, GeneratedText)
            self.labels = value
        else:
            assert not isinstance(value, list)
            self.set_text(model_type, value)

    def set_text(self, model_type: str, text: GeneratedText | None) -> None:
        if text is None:
            self.texts.pop(model_type, None)
        else:
            self.texts[model_type] = text

    # The chain still sets a type's value by its name (setattr); these go once it sets texts.
    @property
    def caption(self) -> GeneratedText | None:
        return self.texts.get("caption")

    @caption.setter
    def caption(self, text: GeneratedText | None) -> None:
        self.set_text("caption", text)

    @property
    def title(self) -> GeneratedText | None:
        return self.texts.get("title")

    @title.setter
    def title(self, text: GeneratedText | None) -> None:
        self.set_text("title", text)
