"""One type asked of an engine through its single entry point, `answer`, as the chain asks it:
the value, or the error the answer held for that type."""

from __future__ import annotations

import time
from typing import Protocol

from xmpvision.engines import served
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


def caption_began(engine: Answers, photo: PhotoImage) -> tuple[Caption, list[float], float]:
    """The caption; when the engine said its answer began to arrive (served.started, once per
    answer at most), and when the answer was complete (time.monotonic())."""
    began: list[float] = []
    served.on_start(lambda: began.append(time.monotonic()))
    try:
        caption = caption_of(engine, photo)
        return caption, began, time.monotonic()
    finally:
        served.on_start(None)
