"""Caption clean-up: real model answers in, one clean sentence out."""

from __future__ import annotations

import pytest

from xmpvision.config.models import ModelConfig
from xmpvision.errors import InvalidPayload
from xmpvision.text.captions import clean_caption, first_sentence

# (case id, model answer (llava / gemma3 / qwen2.5-vl / reasoning models), language, expected)
CAPTION_TABLE: list[tuple[str, str, str | None, str]] = [
    (
        "gemma3 'The image shows' preamble",
        "The image shows a golden retriever running along a sandy beach at sunset.",
        None,
        "A golden retriever running along a sandy beach at sunset.",
    ),
    (
        "qwen 'The image depicts' with a second sentence",
        "The image depicts a busy street market in Marrakech. Vendors sell spices and "
        "lanterns under colorful awnings.",
        None,
        "A busy street market in Marrakech.",
    ),
    (
        "llava 'In this picture, we can see'",
        "In this picture, we can see two children flying a red kite in a grassy park.",
        None,
        "Two children flying a red kite in a grassy park.",
    ),
    (
        "surrounding quotes",
        '"A tabby cat naps on a sunny windowsill."',
        None,
        "A tabby cat naps on a sunny windowsill.",
    ),
    (
        "typographic quotes and a remark after them",
        "\u201cA lighthouse stands on a rocky cliff above crashing waves.\u201d This caption "
        "focuses on the main subject.",
        None,
        "A lighthouse stands on a rocky cliff above crashing waves.",
    ),
    (
        "'Here is a caption' on its own line",
        'Here is a caption for the image:\n\n"A red double-decker bus drives past Big Ben '
        'in London."\n\nLet me know if you want a different style!',
        None,
        "A red double-decker bus drives past Big Ben in London.",
    ),
    (
        "'Sure!' and a bold caption",
        "Sure! Here's a one-sentence caption:\n\n**A chef flips a pancake in a busy "
        "restaurant kitchen.**",
        None,
        "A chef flips a pancake in a busy restaurant kitchen.",
    ),
    (
        "markdown heading and bullet",
        "## Caption\n\n- A woman in a yellow raincoat walks her dog through a rainy street",
        None,
        "A woman in a yellow raincoat walks her dog through a rainy street.",
    ),
    (
        "bold title line before the caption",
        "**Evening Calm**\n\nA wooden rowboat rests on a misty lake at dusk.",
        None,
        "A wooden rowboat rests on a misty lake at dusk.",
    ),
    (
        "think block from a reasoning model",
        "<think>\nThe user wants one sentence. I see a cat. Mention the window.\n</think>\n\n"
        "A tabby cat sleeps on a sunny windowsill.",
        None,
        "A tabby cat sleeps on a sunny windowsill.",
    ),
    (
        "closing think tag only (Ollama stripped the opening one)",
        "Okay, the image has mountains. Keep it short.</think>Snow-capped peaks rise above "
        "a pine forest.",
        None,
        "Snow-capped peaks rise above a pine forest.",
    ),
    (
        "abbreviation St. does not end the sentence",
        "This photo captures St. Paul's Cathedral under a cloudy sky. The dome is lit.",
        None,
        "St. Paul's Cathedral under a cloudy sky.",
    ),
    (
        "number 3.5 and e.g. do not end the sentence",
        "A technician holds a 3.5 inch floppy disk, e.g. an old Sony one. It is blue.",
        None,
        "A technician holds a 3.5 inch floppy disk, e.g. an old Sony one.",
    ),
    (
        "Mt. and Dr. before names",
        "Dr. Lee and two hikers stand at the summit of Mt. Everest at dawn. The sky is pink.",
        None,
        "Dr. Lee and two hikers stand at the summit of Mt. Everest at dawn.",
    ),
    (
        "code fence around the caption",
        "```text\nA plate of spaghetti carbonara on a wooden table\n```",
        None,
        "A plate of spaghetti carbonara on a wooden table.",
    ),
    (
        "JSON object instead of text",
        '{"caption": "a bowl of ramen with a soft-boiled egg"}',
        None,
        "A bowl of ramen with a soft-boiled egg.",
    ),
    (
        "emoji and 'The image is a close-up of'",
        "The image is a close-up of a bee collecting pollen from a sunflower \U0001f33b\U0001f41d",
        None,
        "A close-up of a bee collecting pollen from a sunflower.",
    ),
    (
        "'This is a photo of'",
        "This is a photo of an old stone bridge over a river in autumn",
        None,
        "An old stone bridge over a river in autumn.",
    ),
    (
        "clause after 'shows' is left alone",
        "This image shows how a chef rolls sushi by hand.",
        None,
        "This image shows how a chef rolls sushi by hand.",
    ),
    (
        "an adjective before the medium is worth keeping",
        "An aerial photo of a city at night",
        None,
        "An aerial photo of a city at night.",
    ),
    (
        "'Great' as a word, not an interjection",
        "Great white shark swimming near the surface",
        None,
        "Great white shark swimming near the surface.",
    ),
    (
        "question and exclamation marks stay",
        "What a view over the Grand Canyon!",
        None,
        "What a view over the Grand Canyon!",
    ),
    (
        "quoted title inside the sentence",
        '"Mona Lisa" hangs behind glass in the Louvre.',
        None,
        '"Mona Lisa" hangs behind glass in the Louvre.',
    ),
    (
        "control characters, ANSI colours and zero-width spaces",
        "A man in a \x1b[31mred\x1b[0m jacket\u200b stands\x00 on a bridge",
        None,
        "A man in a red jacket stands on a bridge.",
    ),
    (
        "deliberate casing of the first word kept",
        "The image shows iPhone boxes stacked on a shelf.",
        None,
        "iPhone boxes stacked on a shelf.",
    ),
    (
        "German 'Das Bild zeigt' with a masculine object",
        "Das Bild zeigt einen großen braunen Hund, der auf einer Wiese mit einem Ball spielt.",
        "de",
        "Ein großer brauner Hund, der auf einer Wiese mit einem Ball spielt.",
    ),
    (
        "German weak noun and coordination",
        "Dieses Bild zeigt einen Jungen und seinen Hund im Park.",
        "de",
        "Ein Junge und sein Hund im Park.",
    ),
    (
        "German 'den' becomes 'der', second sentence dropped",
        "Das Foto zeigt den Kölner Dom bei Nacht. Im Vordergrund fließt der Rhein.",
        "de",
        "Der Kölner Dom bei Nacht.",
    ),
    (
        "German feminine object needs no change",
        "Das Bild zeigt eine Katze, die auf einem roten Sofa schläft.",
        "de-DE",
        "Eine Katze, die auf einem roten Sofa schläft.",
    ),
    (
        "German 'Auf dem Bild ist ... zu sehen'",
        "Auf dem Bild ist ein Segelboot auf dem Bodensee zu sehen, das bei Sonnenuntergang fährt.",
        "de",
        "Ein Segelboot auf dem Bodensee, das bei Sonnenuntergang fährt.",
    ),
    (
        "German colon preamble and ordinal date",
        "Klar! Hier ist eine Bildunterschrift: Ein Radfahrer überquert am 3. Mai die Brücke.",
        "de",
        "Ein Radfahrer überquert am 3. Mai die Brücke.",
    ),
    (
        "German preamble untouched when English is requested",
        "Das Bild zeigt einen Hund.",
        "en",
        "Das Bild zeigt einen Hund.",
    ),
]


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [pytest.param(text, lang, exp, id=case) for case, text, lang, exp in CAPTION_TABLE],
)
def test_caption_table(text: str, language: str | None, expected: str) -> None:
    assert clean_caption(text, language=language) == expected


def test_table_is_big_enough() -> None:
    assert len(CAPTION_TABLE) >= 15


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n  ",
        "Here is a caption:",
        "<think>Let me look at the image carefully",  # the answer never came
        "**Caption:**",
        "\U0001f436\U0001f3d6\ufe0f",
        "...",
        "I'm sorry, but I can't help with identifying people in images.",
        "Es tut mir leid, aber ich kann dieses Bild nicht beschreiben.",
    ],
)
def test_unusable_answers_raise_invalid_payload(text: str) -> None:
    with pytest.raises(InvalidPayload):
        clean_caption(text, language="de" if text.startswith("Es") else None)


def test_clipped_at_word_boundary() -> None:
    text = "A golden retriever runs along a sandy beach at sunset with its owner."
    clipped = clean_caption(text, max_length=30)
    assert clipped == "A golden retriever runs along\u2026"
    assert len(clipped) <= 30


def test_clip_without_spaces_cuts_hard() -> None:
    clipped = clean_caption("x" * 50, max_length=10)
    assert clipped == "X" + "x" * 8 + "\u2026"


def test_default_max_length_is_photoprisms() -> None:
    assert ModelConfig(type="caption").caption_limit == 4096
    long = "A dog " + "and a dog " * 500
    assert len(clean_caption(long)) <= 4096


def test_max_length_too_small_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_length"):
        clean_caption("A dog.", max_length=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two.", "One."),
        ("J. K. Rowling signs books. Fans wait.", "J. K. Rowling signs books."),
        ("Prices rose 3.5 percent. Then fell.", "Prices rose 3.5 percent."),
        ("A toy, i.e. a ball. Red.", "A toy, i.e. a ball."),
        ("No end here", "No end here"),
        ("Wait... There is more.", "Wait..."),
        ("Built in 1990. Renovated later.", "Built in 1990."),
    ],
)
def test_first_sentence(text: str, expected: str) -> None:
    assert first_sentence(text) == expected


def test_first_sentence_german_ordinal() -> None:
    assert first_sentence("Am 3. Oktober feiern viele. Andere nicht.", german=True) == (
        "Am 3. Oktober feiern viele."
    )
