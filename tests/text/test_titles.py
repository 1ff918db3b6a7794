"""Title clean-up: real model answers in, one short title out."""

from __future__ import annotations

import pytest

from xmpvision.errors import InvalidPayload
from xmpvision.text.titles import MAX_TITLE_LENGTH, clean_title

# (case id, model answer (gemma3 / llava / qwen2.5-vl / reasoning models), language, expected)
TITLE_TABLE: list[tuple[str, str, str | None, str]] = [
    ("plain", "Golden Hour at the Pier", None, "Golden Hour at the Pier"),
    ("surrounding quotes", '"Golden Hour at the Pier"', None, "Golden Hour at the Pier"),
    ("typographic quotes", "\u201cGolden Hour at the Pier\u201d", None,
     "Golden Hour at the Pier"),
    ("label preamble", "Title: Golden Hour at the Pier", None, "Golden Hour at the Pier"),
    ("bold label preamble", "**Title:** Golden Hour at the Pier", None,
     "Golden Hour at the Pier"),
    ("preamble line, then a bold title",
     "Here is a title for the image:\n\n**Golden Hour at the Pier**", None,
     "Golden Hour at the Pier"),
    ("interjection and quoted title", 'Sure! Here\'s a short title: "Golden Hour at the Pier"',
     None, "Golden Hour at the Pier"),
    ("okay preamble on its own line", "Okay, here's a title:\n\nGolden Hour at the Pier", None,
     "Golden Hour at the Pier"),
    ("heading, then an explanation",
     "# Golden Hour at the Pier\n\nThis title captures the warm light of the sunset.", None,
     "Golden Hour at the Pier"),
    ("title and description lines",
     "Title: *Golden Hour at the Pier*\nDescription: A warm sunset over a wooden pier.", None,
     "Golden Hour at the Pier"),
    ("numbered suggestions: the first",
     "Here are a few title ideas:\n1. Golden Hour at the Pier\n2. Pier at Dusk\n3. Calm", None,
     "Golden Hour at the Pier"),
    ("bulleted suggestions", "- **Pier at Dusk**\n- Evening Calm", None, "Pier at Dusk"),
    ("closing period dropped", "Golden Hour at the Pier.", None, "Golden Hour at the Pier"),
    ("ellipsis dropped", "Golden hour at the pier...", None, "Golden hour at the pier"),
    ("abbreviation keeps its period", "Sunset on Main St.", None, "Sunset on Main St."),
    ("initials keep their periods", "Morning in Washington, D.C.", None,
     "Morning in Washington, D.C."),
    ("abbreviation inside", "A Walk in St. James's Park", None, "A Walk in St. James's Park"),
    ("question mark kept", "Who Let the Dogs Out?", None, "Who Let the Dogs Out?"),
    ("exclamation mark kept", "Splash!", None, "Splash!"),
    ("reasoning block", "<think>The user wants a title. It shows a pier.</think>Pier at Dusk",
     None, "Pier at Dusk"),
    ("JSON object", '{"title": "Golden Hour at the Pier"}', None, "Golden Hour at the Pier"),
    ("fenced JSON", '```json\n{"title": "Golden Hour at the Pier"}\n```', None,
     "Golden Hour at the Pier"),
    ("emoji", "Golden Hour at the Pier \U0001f305\u2728", None, "Golden Hour at the Pier"),
    ("quoted title with a remark",
     "'Golden Hour at the Pier' captures the moment perfectly.", None,
     "Golden Hour at the Pier"),
    ("long: cut at a word boundary, no dangling word",
     "A Golden Retriever Running Along a Sandy Beach at Sunset with the Waves Behind It", None,
     "A Golden Retriever Running Along a Sandy Beach at Sunset"),
    ("long: the part before the dash",
     "**Golden Hour at the Pier** - a warm, glowing sunset over the calm water of the bay",
     None, "Golden Hour at the Pier"),
    ("short dash title kept whole", "Paris \u2013 City of Light", None,
     "Paris \u2013 City of Light"),
    ("deliberate casing", "iPhone on a Desk", None, "iPhone on a Desk"),
    ("German label preamble", "Titel: Sonnenuntergang am Hafen", "de",
     "Sonnenuntergang am Hafen"),
    ("German with period", "Ein Hund am Strand.", "de", "Ein Hund am Strand"),
]


@pytest.mark.parametrize(("answer", "language", "expected"),
                         [case[1:] for case in TITLE_TABLE], ids=[case[0] for case in TITLE_TABLE])
def test_title_table(answer: str, language: str | None, expected: str) -> None:
    assert clean_title(answer, language=language) == expected


def test_table_is_large_enough() -> None:
    assert len(TITLE_TABLE) >= 20


@pytest.mark.parametrize("answer", [
    "",
    "   \n\n  ",
    "**Title**\n",
    "```\n```",
    "\U0001f305\U0001f30a",
    '{"title": ""}',
])
def test_nothing_usable_raises(answer: str) -> None:
    with pytest.raises(InvalidPayload, match=r"^title: "):
        clean_title(answer, language=None)


@pytest.mark.parametrize("answer", [
    "I'm sorry, but I can't help with identifying people in this image.",
    "As an AI, I cannot give this photo a title.",
    "Es tut mir leid, ich kann keinen Titel vorschlagen.",
])
def test_refusal_raises(answer: str) -> None:
    with pytest.raises(InvalidPayload, match="refused"):
        clean_title(answer, language=None)


@pytest.mark.parametrize("max_length", [10, 25, MAX_TITLE_LENGTH])
def test_length_is_capped_at_a_word_boundary(max_length: int) -> None:
    answer = "Two Children Flying a Bright Red Kite Over the Windy Dunes of the North Sea Coast"
    title = clean_title(answer, language=None, max_length=max_length)
    assert 0 < len(title) <= max_length
    assert answer.startswith(title)
    assert answer[len(title)] == " "  # never half a word


def test_max_length_below_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="max_length"):
        clean_title("Pier", language=None, max_length=1)
