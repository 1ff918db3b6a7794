"""Singular form of English keyword nouns, on top of the `inflect` library.

inflect's singular_noun() assumes its input is plural ("bus" -> "bu", "Paris" -> "Pari"), so
this module first decides whether a word is a plural worth touching, then lets inflect do the
actual inflection (irregulars, -ies, -ves, -oes, ...). The word lists below are the
exceptions that a suffix check cannot tell apart; they are aimed at photo keywords.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from xmpvision.text.untrusted import word_set

if TYPE_CHECKING:
    import inflect


# Words that look plural but are the keyword people use: invariant nouns, pluralia tantum,
# collective nouns, and proper names ending in "s".
KEEP_AS_IS: frozenset[str] = word_set(
    """
    people news series species means headquarters crossroads barracks jeans pants trousers
    shorts tights leggings overalls pajamas pyjamas knickers briefs glasses sunglasses
    eyeglasses spectacles goggles binoculars scissors pliers tongs tweezers headphones
    earphones earbuds clothes stairs fireworks billiards darts dominoes remains ruins
    surroundings outdoors premises savings goods suds christmas xmas canvas gas atlas bias
    alias pampas tapas pancreas texas kansas arkansas dallas vegas honduras chaos cosmos
    kudos pathos ethos asbestos thermos rhinoceros calvados laos barbados diabetes herpes
    rabies mercedes hercules socrates achilles hermes hades andes pyrenees ganges cannes
    wales athens brussels versailles seychelles maldives bahamas philippines netherlands
    alps rockies himalayas falls states angeles olympics emirates
    """
)
# "-ics" words that are mass nouns ("physics"), unlike countable ones ("picnics", "mosaics").
_ICS_MASS: frozenset[str] = word_set(
    """
    physics mathematics electronics graphics athletics gymnastics aerobics acrobatics
    politics economics acoustics ethics optics robotics logistics statistics genetics
    linguistics ceramics aesthetics mechanics dynamics aerodynamics hydraulics calisthenics
    forensics analytics tactics
    """
)
# Singular words ending in "is" ("taxis", "skis", "kiwis" are plurals and handled normally).
_SINGULAR_IS: frozenset[str] = word_set(
    """
    axis iris tennis trellis pelvis ibis chassis debris paris mantis cannabis clematis penis
    marquis proboscis epidermis amaryllis atlantis memphis tunis artemis osiris isis elvis
    louis
    """
)
# Plurals ending in "us" (almost every "-us" word is singular: bus, cactus, octopus, virus).
_PLURAL_US: frozenset[str] = word_set("menus emus gnus gurus tutus haikus")
# Irregular plurals that do not end in "s".
_IRREGULAR: frozenset[str] = word_set(
    """
    children men women mice geese teeth feet oxen lice cacti fungi firemen fishermen
    policemen businessmen snowmen gentlemen sportsmen horsemen craftsmen chairmen postmen
    salesmen workmen cavemen policewomen businesswomen sportswomen
    """
)
# "wine glasses" are drinking glasses (singular "wine glass"); "reading glasses" stay.
_DRINK_MODIFIERS: frozenset[str] = word_set(
    "wine drinking champagne shot beer cocktail martini water whisky whiskey"
)
# Phrases with these are lists or fixed expressions ("fish and chips"): no head noun to change.
_CONJUNCTIONS: frozenset[str] = frozenset({"and", "&", "or", "+", "n", "'n'", "nor"})
# The head noun of "bottles of wine" or "dogs on beach" comes before the preposition.
_PREPOSITIONS: frozenset[str] = word_set(
    "of with in on at for from under near by over behind beside inside"
)
_ACRONYM_PLURAL = re.compile(r"^[A-Z]{2,}s$")


@cache
def _engine() -> inflect.engine:
    # Imported lazily: inflect takes a noticeable time to import and most commands never need it.
    import inflect

    return inflect.engine()


def _looks_plural(lower: str) -> bool:
    if not lower.isalpha() or lower in KEEP_AS_IS:
        return False
    if lower in _IRREGULAR:
        return True
    if len(lower) <= 3 or not lower.endswith("s"):
        return False  # "gas", "bus", "yes"; "fish", "sheep" are their own plural
    if lower.endswith("ss"):
        return False  # "glass", "grass", "dress"
    if lower.endswith("us"):
        return lower in _PLURAL_US
    if lower.endswith("is"):
        return not (lower in _SINGULAR_IS or lower.endswith(("sis", "itis", "polis")))
    if lower.endswith("ics"):
        return lower not in _ICS_MASS
    return True


def singularize_word(word: str) -> str:
    """The singular of one English word when it is clearly a plural, else the word unchanged.

    Hyphenated words change their last part ("t-shirts" -> "t-shirt"); case is kept.
    """
    if "-" in word:
        head, _, last = word.rpartition("-")
        return f"{head}-{singularize_word(last)}" if last else word
    if _ACRONYM_PLURAL.match(word):
        return word[:-1]  # "TVs", "DVDs"
    if not _looks_plural(word.lower()):
        return word
    singular = _engine().singular_noun(word)
    return singular if isinstance(singular, str) and singular else word


def head_index(words: list[str]) -> int | None:
    """Index of the head noun of an English keyword phrase, or None if it has none to change."""
    lowered = [w.lower() for w in words]
    if any(w in _CONJUNCTIONS for w in lowered):
        return None
    for i, w in enumerate(lowered):
        if i > 0 and w in _PREPOSITIONS:
            return i - 1
    return len(words) - 1


def singularize_phrase(words: list[str]) -> list[str]:
    """Singularise the head noun of an English keyword phrase (a list of words)."""
    index = head_index(words)
    if index is None:
        return list(words)
    head = words[index]
    if head.lower() == "glasses" and index > 0 and words[index - 1].lower() in _DRINK_MODIFIERS:
        singular = head[:-2]  # "wine glasses" -> "wine glass"
    else:
        singular = singularize_word(head)
    return [*words[:index], singular, *words[index + 1 :]]
