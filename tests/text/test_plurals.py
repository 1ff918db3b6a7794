"""English head-noun singularisation."""

from __future__ import annotations

import pytest

from xmpvision.text.plurals import head_index, singularize_phrase, singularize_word


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("dogs", "dog"), ("Dogs", "Dog"), ("buses", "bus"), ("bus", "bus"), ("glass", "glass"),
        ("glasses", "glasses"), ("species", "species"), ("series", "series"), ("news", "news"),
        ("jeans", "jeans"), ("people", "people"), ("children", "child"), ("women", "woman"),
        ("firemen", "fireman"), ("ramen", "ramen"), ("specimen", "specimen"),
        ("cherries", "cherry"), ("wolves", "wolf"), ("tomatoes", "tomato"), ("cactus", "cactus"),
        ("menus", "menu"), ("crises", "crisis"), ("analysis", "analysis"), ("taxis", "taxi"),
        ("axis", "axis"), ("physics", "physics"), ("picnics", "picnic"), ("gas", "gas"),
        ("pandas", "panda"), ("t-shirts", "t-shirt"), ("TVs", "TV"), ("1990s", "1990s"),
        ("sheep", "sheep"), ("fish", "fish"), ("Paris", "Paris"), ("Wales", "Wales"),
    ],
)  # fmt: skip
def test_singularize_word(word: str, expected: str) -> None:
    assert singularize_word(word) == expected


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("ferris wheels", "ferris wheel"),
        ("bottles of wine", "bottle of wine"),
        ("dogs on beach", "dog on beach"),
        ("fish and chips", "fish and chips"),
        ("salt & pepper shakers", "salt & pepper shakers"),
        ("champagne glasses", "champagne glass"),
        ("safety glasses", "safety glasses"),
    ],
)
def test_singularize_phrase(phrase: str, expected: str) -> None:
    assert " ".join(singularize_phrase(phrase.split())) == expected


def test_head_index() -> None:
    assert head_index(["statue", "of", "liberty"]) == 0
    assert head_index(["hot", "dog"]) == 1
    assert head_index(["rock", "and", "roll"]) is None
