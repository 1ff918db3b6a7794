"""Turn the German accusative object left behind by a stripped preamble into a subject.

"Das Bild zeigt einen großen Hund und seinen Jungen." loses "Das Bild zeigt", and
"einen großen Hund" must become "ein großer Hund" to stand alone. Only masculine singular
noun phrases differ between accusative and nominative, so only they are rewritten: the
determiner, the adjectives before the noun, and weak nouns ("den Jungen" -> "der Junge").
Only the leading noun phrase and those joined to it by "und"/"oder"/"sowie" are touched;
anything after a comma or a preposition keeps its own case.
"""

from __future__ import annotations

# Masculine accusative determiner -> (nominative, adjective ending after it).
_DETERMINERS: dict[str, tuple[str, str]] = {
    "einen": ("ein", "er"),
    "keinen": ("kein", "er"),
    "meinen": ("mein", "er"),
    "seinen": ("sein", "er"),
    "ihren": ("ihr", "er"),
    "unseren": ("unser", "er"),
    "den": ("der", "e"),
    "diesen": ("dieser", "e"),
    "jeden": ("jeder", "e"),
}
# Words that start a noun phrase whose accusative equals its nominative.
_NEUTRAL = "ein eine die das kein keine zwei drei vier fünf mehrere viele einige zahlreiche"
_NEUTRAL_DETERMINERS = frozenset(f"{_NEUTRAL} sein seine ihr ihre mein meine dieses diese".split())
_COORDINATORS = frozenset({"und", "oder", "sowie"})
_MAX_ADJECTIVES = 4

# Weak masculine nouns take -n/-en in the accusative. Nominative forms; compounds
# ("Eisbären", "Hirtenjungen") are matched by their ending.
_WEAK_E_NOUNS = (
    "Junge Löwe Affe Hase Rabe Kunde Kollege Knabe Bote Riese Zeuge Neffe Drache Falke "
    "Franzose Chinese Schwede Russe Grieche Türke Schotte Brite Experte Sklave Erbe Biologe "
    "Geologe Psychologe Ochse Bulle Gatte Laie"
)
_WEAK_EN_NOUNS = (
    "Mensch Bär Held Prinz Graf Fürst Narr Hirt Spatz Fink Kamerad Pirat Soldat Student "
    "Elefant Präsident Polizist Tourist Fotograf Astronaut Pilot Patient Automat Planet "
    "Komet Architekt Diamant Kandidat Satellit Journalist Pianist Gitarrist Artist Passant "
    "Demonstrant Musikant Agent Athlet Christ"
)
_WEAK_N = ("Herr", "Bauer", "Nachbar")
_WEAK_ACCUSATIVE: dict[str, str] = {
    **{f"{w}n".lower(): w.lower() for w in (*_WEAK_E_NOUNS.split(), *_WEAK_N)},
    **{f"{w}en".lower(): w.lower() for w in _WEAK_EN_NOUNS.split()},
}


def _match_case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _split_punct(token: str) -> tuple[str, str]:
    core = token.rstrip(",.;:!?")
    return core, token[len(core) :]


def _weak_nominative(noun: str) -> str:
    lower = noun.lower()
    for accusative, nominative in _WEAK_ACCUSATIVE.items():
        if lower.endswith(accusative):
            # Every accusative is its nominative plus "n"/"en": cut that ending off.
            return noun[: len(noun) - len(accusative) + len(nominative)]
    return noun


def accusative_to_nominative(text: str) -> str:
    """Rewrite the leading (coordinated) masculine accusative noun phrases of text."""
    tokens = text.split(" ")
    i = 0
    while i < len(tokens):
        word, trailing = _split_punct(tokens[i])
        lower = word.lower()
        rule = _DETERMINERS.get(lower)
        if rule is None and lower not in _NEUTRAL_DETERMINERS and not word[:1].isupper():
            break  # not a noun phrase we understand
        if rule is not None:
            tokens[i] = _match_case(rule[0], word) + tokens[i][len(word) :]
        j = i + 1 if (rule is not None or lower in _NEUTRAL_DETERMINERS) else i
        stop = j > i and bool(trailing)  # "einen," cannot go on
        adjectives = 0
        while not stop and j < len(tokens) and tokens[j][:1].islower():
            core, punct = _split_punct(tokens[j])
            if core in _COORDINATORS or adjectives == _MAX_ADJECTIVES:
                break
            if rule is not None and core.endswith("en"):
                tokens[j] = core[:-2] + rule[1] + punct  # "großen" -> "großer" / "große"
            adjectives += 1
            j += 1
        if stop or j >= len(tokens) or not tokens[j][:1].isupper():
            break
        noun, punct = _split_punct(tokens[j])
        if rule is not None:
            tokens[j] = _weak_nominative(noun) + punct
        if punct or j + 1 >= len(tokens) or tokens[j + 1] not in _COORDINATORS:
            break
        i = j + 2
    return " ".join(tokens)
