"""Source names and priorities, as PhotoPrism ranks them (higher wins)."""

from __future__ import annotations

from xmpvision.errors import UnknownSourceError

# Kept as PhotoPrism's numbers so that users who know its behaviour get the same decisions.
SOURCE_PRIORITY: dict[str, int] = {
    "auto": 1,
    "default": 1,
    "estimate": 2,
    "file": 2,
    "name": 4,
    "image": 8,
    "onnx": 12,
    "ollama": 16,
    "openai": 16,
    "meta": 16,
    "xmp": 32,
    "manual": 64,
    "vision": 64,
    "batch": 64,
    "admin": 128,
}

# Values found in a sidecar without our provenance were written by a person or another app.
USER_SOURCE = "xmp"
# The source of generated values when nothing else says: `vision reset`'s default, and what a
# provenance record without one was written by.
DEFAULT_SOURCE = "ollama"


def source_priority(name: str) -> int:
    """Priority of a source name; unknown names are a user error."""
    try:
        return SOURCE_PRIORITY[name.strip().lower()]
    except KeyError:
        raise UnknownSourceError(name, list(SOURCE_PRIORITY)) from None


def normalize_source(name: str) -> str:
    key = name.strip().lower()
    if key not in SOURCE_PRIORITY:
        raise UnknownSourceError(name, list(SOURCE_PRIORITY))
    return key
