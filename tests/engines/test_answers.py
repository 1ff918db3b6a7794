"""A vision model's labels nest under the classifiers' categories when the keyword table knows
them (English only), so Lightroom and digiKam show one tree whoever named the keyword."""

from __future__ import annotations

import json

import pytest

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.answers import Answering
from xmpvision.errors import InvalidPayload

ANSWER = json.dumps({"labels": [
    {"name": "cat", "confidence": 0.9, "topicality": 0.9},
    {"name": "sports car", "confidence": 0.9, "topicality": 0.9},
    {"name": "birthday party", "confidence": 0.9, "topicality": 0.9},
]})


def answering(language: str | None = None) -> Answering:
    model = ModelConfig(type="labels", engine="ollama", model="gemma3", language=language)
    return Answering(model, Thresholds(), "ollama", "ollama")


def test_known_keywords_get_the_tables_categories() -> None:
    labels = {x.name: x.categories for x in answering().labels(ANSWER, "p.jpg")}
    assert labels["Cat"] == ("Animal", "Pet")
    assert labels["Sports Car"] == ()  # the table's keyword for it is "car"
    assert labels["Birthday Party"] == ()


def test_a_model_answering_in_another_language_gets_none() -> None:
    answer = json.dumps({"labels": [{"name": "cat", "confidence": 0.9, "topicality": 0.9}]})
    (label,) = answering("de").labels(answer, "p.jpg")
    assert label.categories == ()
    (english,) = answering("en-GB").labels(answer, "p.jpg")
    assert english.categories == ("Animal", "Pet")


def test_single_sets_only_the_asked_types_value() -> None:
    result = answering().single("labels", ANSWER, "p.jpg")
    assert result.labels is not None and {x.name for x in result.labels} >= {"Cat"}
    assert result.caption is None and result.title is None
    caption = answering().single("caption", "A cat on a sofa.", "p.jpg")
    assert caption.caption is not None and caption.labels is None
    title = answering().single("title", "Cat on a sofa", "p.jpg")
    assert title.title is not None and title.caption is None


def test_single_raises_invalid_payload_on_an_unusable_answer() -> None:
    with pytest.raises(InvalidPayload):
        answering().single("labels", "not json at all", "p.jpg")
    with pytest.raises(InvalidPayload):
        answering().single("caption", "", "p.jpg")
