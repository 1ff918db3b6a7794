"""A vision model's labels nest under the classifiers' categories when the keyword table knows
them (English only), so Lightroom and digiKam show one tree whoever named the keyword."""

from __future__ import annotations

import json

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.answers import Answering

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
