"""Label normalisation: real model outputs in, keywords out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from xmpvision.errors import UnknownSourceError
from xmpvision.results import Label
from xmpvision.text.labels import (
    BLOCKLIST_EN,
    MISSING_CONFIDENCE,
    NormalizeMode,
    RawLabel,
    canonical_key,
    normalize_labels,
    priority_from_topicality,
)
from xmpvision.text.languages import is_english

Raw = RawLabel | Mapping[str, object] | str
# What an engine hands over: thresholds (10%, 0%), 10 labels, whole phrases kept.
RULES: dict[str, Any] = {
    "confidence_threshold": 10, "topicality_threshold": 0, "max_labels": 10, "mode": "phrase",
}


def names(
    raw: Sequence[Raw], language: str | None = None, mode: NormalizeMode = "phrase",
    **kwargs: int,
) -> list[str]:
    labels = normalize_labels(
        raw, source="ollama", model="gemma3:latest", engine="ollama", language=language,
        **{**RULES, **kwargs, "mode": mode},
    )
    return [label.name for label in labels]


def label(name: str, confidence: object = None, topicality: object = None) -> dict[str, object]:
    out: dict[str, object] = {"name": name}
    if confidence is not None:
        out["confidence"] = confidence
    if topicality is not None:
        out["topicality"] = topicality
    return out


# Each row: what a model answered (gemma3 / llava / qwen2.5-vl style), the requested
# language, and the keywords we expect, in order (all equal scores keep the model's order).
LABEL_TABLE: list[tuple[str, list[Raw], str | None, list[str]]] = [
    ("plural to singular", [label("dogs"), label("trees")], None, ["Dog", "Tree"]),
    ("bus is not bu", [label("bus"), label("buses")], None, ["Bus"]),
    ("glass and glasses differ", [label("glass"), label("glasses")], None, ["Glass", "Glasses"]),
    (
        "invariant nouns",
        [label("species"), label("series"), label("news")],
        None,
        ["Species", "Series", "News"],
    ),
    (
        "pluralia tantum",
        [label("jeans"), label("scissors"), label("sunglasses")],
        None,
        ["Jeans", "Scissors", "Sunglasses"],
    ),
    ("people stays people", [label("people"), label("children")], None, ["People", "Child"]),
    (
        "multi-word head noun",
        [label("ferris wheels"), label("palm trees")],
        None,
        ["Ferris Wheel", "Palm Tree"],
    ),
    (
        "head before preposition",
        [label("bottles of wine"), label("Statue of Liberty")],
        None,
        ["Bottle of Wine", "Statue of Liberty"],
    ),
    ("no head in a conjunction", [label("fish and chips")], None, ["Fish and Chips"]),
    (
        "drinking glasses",
        [label("wine glasses"), label("reading glasses")],
        None,
        ["Wine Glass", "Reading Glasses"],
    ),
    (
        "irregular plurals",
        [label("mice"), label("geese"), label("leaves"), label("knives")],
        None,
        ["Mouse", "Goose", "Leaf", "Knife"],
    ),
    (
        "-us and -is words",
        [label("cactus"), label("octopus"), label("tennis"), label("iris")],
        None,
        ["Cactus", "Octopus", "Tennis", "Iris"],
    ),
    ("-is plurals", [label("skis"), label("taxis"), label("kiwis")], None, ["Ski", "Taxi", "Kiwi"]),
    (
        "-as and -os words",
        [label("canvas"), label("pandas"), label("chaos"), label("tacos")],
        None,
        ["Canvas", "Panda", "Chaos", "Taco"],
    ),
    (
        "proper names ending in s",
        [label("Los Angeles"), label("Niagara Falls"), label("Alps")],
        None,
        ["Los Angeles", "Niagara Falls", "Alps"],
    ),
    (
        "acronyms kept",
        [label("USB cable"), label("NYC"), label("TVs"), label("iPhone")],
        None,
        ["USB Cable", "NYC", "TV", "iPhone"],
    ),
    (
        "title case like PhotoPrism",
        [label("ferris wheel"), label("HOT AIR BALLOON"), label("UNESCO site")],
        None,
        ["Ferris Wheel", "Hot Air Balloon", "UNESCO Site"],
    ),
    ("hyphenated words", [label("t-shirts"), label("x-ray")], None, ["T-Shirt", "X-Ray"]),
    (
        "duplicates after singular",
        [label("Dog", 0.6), label("dogs", 0.9), label("DOG", 0.7)],
        None,
        ["Dog"],
    ),
    (
        "emoji stripped",
        [label("🐶 dog"), label("sunset 🌅"), label("👍🏽")],
        None,
        ["Dog", "Sunset"],
    ),
    (
        "hashtags and numbering",
        [label("#sunset"), label("1. beach"), label("- palm")],
        None,
        ["Sunset", "Beach", "Palm"],
    ),
    (
        "quotes and punctuation",
        [label('"ocean"'), label("'sand'!"), label("(waves)")],
        None,
        ["Ocean", "Sand", "Wave"],
    ),
    (
        "blocklisted words",
        [
            label("photo"),
            label("image"),
            label("Background"),
            label("N/A"),
            label("none"),
            label("cat"),
        ],
        None,
        ["Cat"],
    ),
    ("blocklist after singular", [label("photos"), label("pictures"), label("objects")], None, []),
    (
        "sentences are not keywords",
        [label("This is a picture of a dog playing on the beach"), label("dog")],
        None,
        ["Dog"],
    ),
    ("too long", [label("x" * 65), label("kite")], None, ["Kite"]),
    ("numbers alone dropped", [label("2023"), label("42"), label("1990s")], None, ["1990s"]),
    (
        "counts and articles",
        [label("3 dogs"), label("two cats"), label("a bird"), label("the beach")],
        None,
        ["Dog", "Cat", "Bird", "Beach"],
    ),
    (
        "names that start with numbers",
        [label("7 Eleven"), label("Route 66")],
        None,
        ["7 Eleven", "Route 66"],
    ),
    (
        "German stays German",
        [label("Häuser"), label("Hunde"), label("Photo")],
        "de",
        ["Häuser", "Hunde", "Photo"],
    ),
    (
        "French stays French",
        [label("chiens"), label("tour Eiffel")],
        "fr-FR",
        ["Chiens", "Tour Eiffel"],
    ),
    ("German without English rules", [label("roter Bus"), label("n/a")], "de", ["Roter Bus"]),
    ("plain strings", ["Beach", "umbrellas", "Sea"], None, ["Beach", "Umbrella", "Sea"]),
    ("one string, many labels", ["dog, cat; tree\n2. cars"], None, ["Dog", "Cat", "Tree", "Car"]),
    (
        "parenthesised asides",
        [label("golden retriever (dog)"), label("[car]")],
        None,
        ["Golden Retriever", "Car"],
    ),
    (
        "label: prefixes",
        [label("Label: mountain"), label("keyword=lake")],
        None,
        ["Mountain", "Lake"],
    ),
    (
        "control characters drop the label",
        [label("dog\x00"), label("cat\tsitting")],
        None,
        ["Cat Sitting"],
    ),
    ("abbreviation dot kept", [label("Washington D.C.")], None, ["Washington D.C."]),
    (
        "shouting is not casing",
        [label("MOUNTAINS"), label("SNOWY LANDSCAPE")],
        None,
        ["Mountain", "Snowy Landscape"],
    ),
    ("full-width letters from qwen", [label("\uff35\uff33\uff22")], None, ["USB"]),
    (
        "non-string names dropped",
        [{"name": 12}, {"confidence": 0.9}, label("lamp")],
        None,
        ["Lamp"],
    ),
]


@pytest.mark.parametrize(
    ("raw", "language", "expected"),
    [pytest.param(raw, lang, exp, id=case) for case, raw, lang, exp in LABEL_TABLE],
)
def test_label_table(raw: list[Raw], language: str | None, expected: list[str]) -> None:
    assert names(raw, language=language, max_labels=50) == expected


def test_table_is_big_enough() -> None:
    assert len(LABEL_TABLE) >= 30


# Each row: the Normalize mode, what the model answered, the language, the keywords expected.
MODE_TABLE: list[tuple[str, NormalizeMode, list[Raw], str | None, list[str]]] = [
    (
        "phrase keeps compounds",
        "phrase",
        [label("golden retriever"), label("sandy beaches"), label("ferris wheels")],
        None,
        ["Golden Retriever", "Sandy Beach", "Ferris Wheel"],
    ),
    (
        "single-word keeps the head noun",
        "single-word",
        [label("golden retriever"), label("sandy beaches"), label("ferris wheels")],
        None,
        ["Retriever", "Beach", "Wheel"],
    ),
    ("single-word, title case", "single-word", [label("Golden Retriever")], None, ["Retriever"]),
    (
        "single-word keeps names whole",
        "single-word",
        # Capitals mark a name only in a batch that writes common nouns in lower case.
        [label("Statue of Liberty"), label("Niagara Falls"), label("palm trees"), label("boats")],
        None,
        ["Statue of Liberty", "Niagara Falls", "Tree", "Boat"],
    ),
    (
        "single-word merges duplicates",
        "single-word",
        [label("golden retriever", 0.6), label("labrador retriever", 0.9), label("dog", 0.7)],
        None,
        ["Retriever", "Dog"],
    ),
    (
        "single-word head before a preposition",
        "single-word",
        [label("bottles of wine"), label("dogs on beach")],
        None,
        ["Bottle", "Dog"],
    ),
    (
        "single-word without a head",
        "single-word",
        [label("fish and chips"), label("route 66")],
        None,
        ["Fish and Chips", "Route 66"],
    ),
    (
        "single-word never collapses other scripts",
        "single-word",
        [label("東京 タワー"), label("красная площадь")],
        None,
        ["東京 タワー", "Красная Площадь"],
    ),
    (
        "single-word only for English",
        "single-word",
        [label("roter Bus"), label("tour Eiffel")],
        "de",
        ["Roter Bus", "Tour Eiffel"],
    ),
    (
        "single-word head may be blocklisted",
        "single-word",
        [label("blurry background"), label("cat")],
        None,
        ["Cat"],
    ),
    (
        "off keeps the model's words",
        "off",
        [label("dogs"), label("a bird"), label("HOT AIR BALLOON"), label("golden retriever")],
        None,
        ["dogs", "a bird", "HOT AIR BALLOON", "golden retriever"],
    ),
    (
        "off still cleans untrusted text",
        "off",
        [label("🐶 puppy"), label("#sunset"), label("cat\x00"), label("photo"), label("x" * 65),
         label("N/A"), label("1. kite")],
        None,
        ["puppy", "sunset", "kite"],
    ),
    (
        "off merges case variants",
        "off",
        [label("Dog", 0.6), label("dog", 0.9)],
        None,
        ["dog"],
    ),
    ("off in German", "off", [label("roter Bus")], "de", ["roter Bus"]),
]


@pytest.mark.parametrize(
    ("mode", "raw", "language", "expected"),
    [pytest.param(mode, raw, lang, exp, id=case) for case, mode, raw, lang, exp in MODE_TABLE],
)
def test_normalize_modes(
    mode: NormalizeMode, raw: list[Raw], language: str | None, expected: list[str]
) -> None:
    assert names(raw, language=language, mode=mode, max_labels=50) == expected


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        names(["dog"], mode="words")  # type: ignore[arg-type]


def test_missing_scores_default_to_half_and_topicality_follows() -> None:
    [result] = normalize_labels([label("kite")], source="ollama", model="m", engine="ollama",
                                **RULES)
    assert result == Label(
        name="Kite",
        confidence=MISSING_CONFIDENCE,
        source="ollama",
        model="m",
        engine="ollama",
        topicality=MISSING_CONFIDENCE,
        priority=1,
    )


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        (0.9, 0.9),
        ("0.9", 0.9),
        ("90%", 0.9),
        (90, 0.9),
        ("90", 0.9),
        ("0,9", 0.9),
        (1, 1.0),
        (0, MISSING_CONFIDENCE),
        (-0.3, MISSING_CONFIDENCE),
        ("high", MISSING_CONFIDENCE),
        (True, MISSING_CONFIDENCE),
        (float("nan"), MISSING_CONFIDENCE),
        (250, MISSING_CONFIDENCE),
    ],
)
def test_confidence_forms(confidence: object, expected: float) -> None:
    [result] = normalize_labels(
        [label("kite", confidence)], source="ollama", model="m", engine="ollama", **RULES
    )
    assert result.confidence == pytest.approx(expected)


def test_one_in_a_batch_of_percentages_is_one_percent() -> None:
    result = normalize_labels(
        [label("kite", 95), label("cloud", 1), label("sky", 1)],
        source="ollama",
        model="m",
        engine="ollama",
        **RULES,
    )
    assert [r.name for r in result] == ["Kite"]


def test_inline_score_in_string() -> None:
    result = normalize_labels(
        ["Dog (0.95)", "Cat: 40%", "Route 66"], source="ollama", model="m", engine="ollama",
        **RULES,
    )
    assert [(r.name, r.confidence) for r in result] == [
        ("Dog", 0.95),
        ("Route 66", MISSING_CONFIDENCE),
        ("Cat", 0.4),
    ]


def test_compact_labels_carry_their_scores() -> None:
    """prompts.py's compact answers: "name:confidence" and "name:confidence:topicality", in
    whole percent; a name with a colon and no number stays a name."""
    result = normalize_labels(
        ["dog:96:90", "beach:85", "sky : 40 : 20", "Star Trek: Voyager"], source="ollama",
        model="m", engine="ollama", **RULES,
    )
    assert [(r.name, r.confidence, r.topicality, r.priority) for r in result] == [
        ("Dog", 0.96, 0.9, 4),
        ("Beach", 0.85, 0.85, 3),
        ("Star Trek: Voyager", MISSING_CONFIDENCE, MISSING_CONFIDENCE, 1),
        ("Sky", 0.4, 0.2, -1),
    ]
    assert names(["kite:90:10", "sky:90:80"], topicality_threshold=50) == ["Sky"]


def test_confidence_threshold_in_percent() -> None:
    raw = [label("a1", 0.05), label("kite", 0.1), label("sky", 0.29), label("sea", 0.3)]
    assert names(raw) == ["Sea", "Sky", "Kite"]  # 5% < 10%; 10% passes
    assert names(raw, confidence_threshold=29) == ["Sea", "Sky"]
    assert names(raw, confidence_threshold=30) == ["Sea"]


def test_topicality_threshold() -> None:
    raw = [label("kite", 0.9, 0.2), label("sky", 0.9, 0.8)]
    assert names(raw) == ["Sky", "Kite"]
    assert names(raw, topicality_threshold=50) == ["Sky"]


@pytest.mark.parametrize(
    ("topicality", "priority"),
    [(1.0, 5), (0.95, 5), (0.94, 4), (0.9, 4), (0.75, 3), (0.6, 2), (0.4, 1), (0.39, -1),
     (0.15, -1), (0.14, -2), (0.0, -2)],
)  # fmt: skip
def test_priority_from_topicality(topicality: float, priority: int) -> None:
    assert priority_from_topicality(topicality) == priority


def test_sorted_by_priority_then_confidence_and_capped() -> None:
    raw = [
        label("grass", 0.99, 0.3),
        label("dog", 0.8, 0.96),
        label("ball", 0.9, 0.7),
        label("fence", 0.95, 0.7),
    ]
    assert names(raw) == ["Dog", "Fence", "Ball", "Grass"]
    assert names(raw, max_labels=2) == ["Dog", "Fence"]


def test_cap() -> None:
    raw = [label(f"thing{i}") for i in range(30)]  # "thing0" is not the blocklisted "thing"
    assert len(names(raw)) == 10


def test_duplicate_keeps_max_confidence_and_topicality() -> None:
    [result] = normalize_labels(
        [label("Dogs", 0.6, 0.95), label("dog", 0.9, 0.5)],
        source="ollama",
        model="m",
        engine="ollama",
        **RULES,
    )
    assert (result.name, result.confidence, result.topicality) == ("Dog", 0.9, 0.95)


def test_source_is_checked_and_normalised() -> None:
    [result] = normalize_labels(["dog"], source=" Image ", model="nasnet", engine="tensorflow",
                                 **RULES)
    assert (result.source, result.model, result.engine) == ("image", "nasnet", "tensorflow")
    with pytest.raises(UnknownSourceError):
        normalize_labels(["dog"], source="ollma", model="m", engine="ollama", **RULES)


def test_max_labels_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_labels"):
        normalize_labels(["dog"], source="ollama", model="m", engine="ollama",
                         **{**RULES, "max_labels": 0})


def test_raw_label_dataclass_and_key_aliases() -> None:
    raw: list[Raw] = [
        RawLabel("cats", "80%", None),
        {"Label": "lamp", "Score": 0.7},
        {"keyword": "sofa", "confidence": 0.6, "relevance": 0.2},
    ]
    result = normalize_labels(raw, source="ollama", model="m", engine="ollama", **RULES)
    assert [(r.name, r.confidence, r.topicality) for r in result] == [
        ("Cat", 0.8, 0.8),
        ("Lamp", 0.7, 0.7),
        ("Sofa", 0.6, 0.2),
    ]


def test_empty_input_gives_empty_list() -> None:
    assert names([]) == []
    assert names(["", "   ", "🙂", "..."]) == []


def test_blocklist_documented_words() -> None:
    for word in ("photo", "image", "picture", "photograph", "snapshot", "background"):
        assert word in BLOCKLIST_EN


@pytest.mark.parametrize(
    ("language", "english"),
    [(None, True), ("", True), ("en", True), ("en-GB", True), ("EN_us", True), ("de", False),
     ("fr-FR", False)],
)  # fmt: skip
def test_is_english(language: str | None, english: bool) -> None:
    assert is_english(language) is english


@pytest.mark.parametrize(
    ("a", "b"),
    [("Ferris Wheel", "ferris  wheel"), ("T-Shirt", "t shirt"), ("STRASSE", "Straße"),
     ("\uff35\uff33\uff22", "usb"), ("McDonald\u2019s", "mcdonald's")],
)  # fmt: skip
def test_canonical_key_matches(a: str, b: str) -> None:
    assert canonical_key(a) == canonical_key(b)


def test_canonical_key_distinguishes() -> None:
    assert canonical_key("Glass") != canonical_key("Glasses")
    assert canonical_key(" Dog ") == "dog"


@pytest.mark.parametrize(("raw", "expected"), [
    ("sea|shore", ["Sea-shore"]),
    ("Salt/pepper", ["Salt-pepper"]),
    ("AC/DC", ["AC-DC"]),
    ("sea | shore", ["Sea-Shore"]),
])
def test_hierarchy_separators_become_hyphens_as_the_sidecar_writes_them(
    raw: str, expected: list[str]
) -> None:
    # README: `|` and `/` inside a keyword become `-`; NDJSON shows the label's name, so it
    # must already be the keyword the sidecar holds, and `|` is not a list separator.
    from xmpvision.text.untrusted import xml_keyword

    got = names([label(raw)])
    assert got == expected
    assert [xml_keyword(name) for name in got] == got
