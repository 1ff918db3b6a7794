"""Every default of xmpvision, defined once. Config resolution, the engines, the prompts and
the README's key table read them from here."""

from __future__ import annotations

from dataclasses import dataclass

from xmpvision.text.untrusted import MAX_CAPTION_CHARS

DEFAULT_OLLAMA_URI = "http://127.0.0.1:11434"
# PhotoPrism 2026's built-in Ollama model, with reasoning off (it only slows a caption down).
DEFAULT_OLLAMA_MODEL = "gemma4:latest"
DEFAULT_THINK: bool | str = False
DEFAULT_CLASSIFIER_MODEL = "nasnet"
DEFAULT_ENGINE = "ollama"  # a named model without an Engine

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds
DEFAULT_READ_TIMEOUT = 300.0  # a vision model on CPU can take minutes to load and answer
DEFAULT_PARALLEL = 1  # requests in flight per service, like OLLAMA_NUM_PARALLEL
MAX_PARALLEL = 64

DEFAULT_MAX_LENGTH = MAX_CAPTION_CHARS  # caption characters (PhotoPrism's limit)
MAX_TEMPERATURE = 2.0  # PhotoPrism's cap; higher values only produce noise
# Low temperatures: labels and captions should describe, not invent.
DEFAULT_TEMPERATURE = 0.1

# Thresholds in percent, as PhotoPrism writes them; out-of-range values mean the default.
DEFAULT_CONFIDENCE = 20.0  # PhotoPrism 2026's floor
DEFAULT_TOPICALITY = 0.0


@dataclass(frozen=True)
class EngineDefaults:
    """What an entry of an engine gets when vision.yml leaves it out."""

    model: str
    resolution: int  # longest side (or, for a classifier, shortest side) sent, pixels
    max_labels: int
    service: bool  # reached over HTTP: Service.Uri and Service.Key defaults apply
    tagged: bool  # model names are name:tag, the tag defaulting to latest


ENGINE_DEFAULTS: dict[str, EngineDefaults] = {
    # 720 px: PhotoPrism's thumbnail size for Ollama; ~10 useful keywords per answer.
    "ollama": EngineDefaults(DEFAULT_OLLAMA_MODEL, 720, 10, service=True, tagged=True),
    # NASNet Mobile's input; its top 5 classes, as PhotoPrism keeps.
    "tensorflow": EngineDefaults(DEFAULT_CLASSIFIER_MODEL, 224, 5, service=False, tagged=False),
}
