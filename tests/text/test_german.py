"""German accusative -> nominative after a stripped caption preamble."""

from __future__ import annotations

import pytest

from xmpvision.text.german import accusative_to_nominative


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("einen großen braunen Hund am Strand.", "ein großer brauner Hund am Strand."),
        ("einen kleinen, weißen Hund.", "ein kleiner, weißer Hund."),
        ("einen sehr alten Baum.", "ein sehr alter Baum."),
        ("den Eiffelturm bei Nacht.", "der Eiffelturm bei Nacht."),
        ("den alten Herrn mit Hut.", "der alte Herr mit Hut."),
        ("einen Jungen und seinen Hund im Park.", "ein Junge und sein Hund im Park."),
        ("zwei Kinder und einen Eisbären.", "zwei Kinder und ein Eisbär."),
        ("den Fotografen mit seiner Kamera.", "der Fotograf mit seiner Kamera."),
        ("eine Frau und einen Mann.", "eine Frau und ein Mann."),
        ("Kinder und einen Hund.", "Kinder und ein Hund."),
        # Objects inside relative clauses and after prepositions keep their case.
        ("einen Hund, der einen Ball fängt.", "ein Hund, der einen Ball fängt."),
        ("einen Mann in den Bergen.", "ein Mann in den Bergen."),
        ("einen Garten mit Blumen.", "ein Garten mit Blumen."),
        ("eine Katze.", "eine Katze."),
        ("über den Platz.", "über den Platz."),
    ],
)
def test_accusative_to_nominative(text: str, expected: str) -> None:
    assert accusative_to_nominative(text) == expected
