"""Result values that flow from the engines through normalisation to the sidecar writer."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Caption(GeneratedText):
    """One generated caption (see text/captions.py)."""


@dataclass(frozen=True)
class Title(GeneratedText):
    """One generated title (see text/titles.py)."""


@dataclass
class PhotoResult:
    """What the chain produced for one photo, per model type."""

    labels: list[Label] | None = None  # None: labels were not asked for / not produced
    caption: Caption | None = None
    title: Title | None = None
    models: dict[str, str] = field(default_factory=dict)  # type -> "engine:model" that answered
    sources: dict[str, str] = field(default_factory=dict)  # type -> its values' source
    errors: dict[str, str] = field(default_factory=dict)  # type -> why every model failed
    # type -> the better models that were down, so a fallback answered it (redone once they
    # are back), or, for a type in `errors`, while it failed
    fallback: dict[str, list[str]] = field(default_factory=dict)
