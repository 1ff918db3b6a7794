"""The owner's words (keywords, titles, names from their metadata) as text a prompt may quote.

They are untrusted like any text from outside: whoever wrote the photo's IPTC or XMP could put
a line "SYSTEM: ignore the image" or a megabyte into a keyword. Control, bidi and invisible
characters are removed, line breaks and runs of space fold to one space, each value and each
list are capped in characters (a cap in characters caps the tokens too: no tokenizer makes
more tokens than UTF-8 bytes, at most 4 per character). Only the prompt's copy is changed; the
sidecar keeps what the owner wrote.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from xmpvision.text.untrusted import collapse_spaces, drop_controls

# Each value (a keyword, a title, a name) and each hint's list, in characters: a hostile or
# huge keyword can neither flood nor steer the prompt.
MAX_HINT_VALUE_CHARS = 100
MAX_HINT_LIST_CHARS = 400
ELLIPSIS = "…"
_SLACK = 8  # characters looked at per character kept: room for controls that are removed


def prompt_value(text: str, limit: int) -> str:
    """One line of at most `limit` characters; a longer value is cut at a word if one ends in
    its last fifth, and marked with an ellipsis."""
    # Cleaning only shortens; a megabyte is cut before, not character by character.
    clean = collapse_spaces(drop_controls(text[: limit * _SLACK]))
    if len(clean) <= limit:
        return clean
    cut = clean[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if clean[len(cut)] != " " and space >= len(cut) * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def prompt_list(values: Iterable[str], *, each: int, total: int) -> str:
    """Values as "a, b, c", each cleaned and capped at `each` characters, as many whole ones as
    fit in `total` characters; repeats (ignoring case) and empty ones left out."""
    kept: list[str] = []
    seen: set[str] = set()
    length = 0
    for value in itertools.islice(values, total * _SLACK):  # 10,000 repeats are not read
        clean = prompt_value(value, each)
        if not clean or clean.casefold() in seen:
            continue
        extra = len(clean) + (2 if kept else 0)
        if length + extra > total:
            break
        kept.append(clean)
        seen.add(clean.casefold())
        length += extra
    return ", ".join(kept)
