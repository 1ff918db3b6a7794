"""One type asked of an engine through its single entry point, `answer`, as the chain asks it:
the value, or the error the answer held for that type."""

from __future__ import annotations

from typing import Protocol

from xmpvision.errors import InvalidPayload
from xmpvision.prepare.images import PhotoImage
from xmpvision.results import Caption, Label, PhotoResult, Title


class Answers(Protocol):
    def answer(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult: ...


def _asked(engine: Answers, photo: PhotoImage, kind: str) -> PhotoResult:
    result = engine.answer(photo, (kind,))
    if kind in result.errors:
        raise InvalidPayload(result.errors[kind])
    return result


def labels_of(engine: Answers, photo: PhotoImage) -> list[Label]:
    labels = _asked(engine, photo, "labels").labels
    assert labels is not None
    return labels


def caption_of(engine: Answers, photo: PhotoImage) -> Caption:
    caption = _asked(engine, photo, "caption").caption
    assert caption is not None
    return caption


def title_of(engine: Answers, photo: PhotoImage) -> Title:
    title = _asked(engine, photo, "title").title
    assert title is not None
    return title
