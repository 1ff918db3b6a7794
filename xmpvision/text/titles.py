"""Title clean-up: one short title out of whatever a vision model answered.

Built from the caption cleaner (captions.py) rather than beside it, so that both read an
answer by the same rules: reasoning blocks, code fences and JSON (`{"title": ...}` too) are
unwrapped, then each line in turn goes through clean_caption — markdown, preambles ("Title:",
"Here is a title for the image:"), surrounding quotes, emoji, and the first sentence — until
one has text left: a model that puts "Here are some ideas:" on its own line, a heading or a
numbered list of suggestions gives its first suggestion. The title keeps no closing period
(abbreviations such as "St." and "D.C." keep theirs; "?" and "!" stay) and is cut at a word
boundary to at most max_length characters, without an ellipsis or a dangling "and".

An answer with nothing usable, or a refusal, raises InvalidPayload so that the chain can fall
back to the next model.
"""

from __future__ import annotations

import unicodedata

from xmpvision.errors import InvalidPayload
from xmpvision.text.answers import CAPTION_KEYS, strip_reasoning, unwrap_text
from xmpvision.text.captions import clean_caption, first_sentence
from xmpvision.text.languages import is_german
from xmpvision.text.untrusted import QUOTES, drop_controls, word_set

MAX_TITLE_LENGTH = 60
MIN_TITLE_LENGTH = 2
_MAX_LINES = 40  # a title is among the first lines of an answer; the rest only costs time
_TITLE_KEYS = ("title", "headline", "name")
# A line that only names what follows ("**Title**", "Titel") is not the title.
_HEADINGS = word_set("title titel headline caption überschrift")
# Words a title does not end on once it has been cut short.
_DANGLING = word_set(
    "a an the and or of with in on at to for from by as & "
    "ein eine einer der die das und oder mit im in am an auf zu von vom bei für"
)
_CUT_PUNCTUATION = " ,;:-\u2013\u2014/&"
# Where a title too long to keep ends and the model's explanation of it starts.
_SEPARATORS = (" - ", " \u2013 ", " \u2014 ", ": ")


def _unwrap(text: str) -> str:
    """The title inside a fenced block or a JSON object (also under a caption's keys, as a
    model told to caption may answer), else `text`."""
    return unwrap_text(text, (*_TITLE_KEYS, *CAPTION_KEYS))


def _first_title_line(lines: list[str], language: str | None) -> str | None:
    for line in lines:
        try:
            cleaned = clean_caption(line, language=language)
        except InvalidPayload:
            continue  # nothing left of this line ("Here is a title:"): try the next
        if cleaned.rstrip(".:").strip().casefold() not in _HEADINGS:
            return _quoted_lead(cleaned)
    return None


def _quoted_lead(text: str) -> str:
    """The quoted title of '"Golden Hour" captures the mood.'; `text` if it is not one."""
    if not text or text[0] not in QUOTES:
        return text
    for i in range(2, len(text)):
        # A quote mark before a letter is an apostrophe ("St. James's"), not the closing one.
        if text[i] in QUOTES and not text[i + 1 : i + 2].isalpha():
            return text[1:i].strip() or text
    return text


def _cut(text: str, max_length: int) -> str:
    """At most max_length characters: the head before " - " or ": " when that fits, else cut
    at the last word boundary that fits."""
    if len(text) <= max_length:
        return text
    heads = [text.split(sep, 1)[0] for sep in _SEPARATORS if sep in text]
    fitting = [head for head in heads if head.strip() and len(head) <= max_length]
    if fitting:
        return min(fitting, key=len).rstrip(_CUT_PUNCTUATION)
    cut = text[: max_length + 1]
    space = cut.rfind(" ")
    words = (cut[:space] if space > 0 else cut[:max_length]).rstrip(_CUT_PUNCTUATION).split(" ")
    while len(words) > 1 and words[-1].casefold() in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(_CUT_PUNCTUATION)


def _drop_final_period(text: str, german: bool) -> str:
    """Without a closing period or ellipsis, unless the period belongs to an abbreviation."""
    if not text.endswith((".", "\u2026")):
        return text
    # first_sentence knows the abbreviations: the period ends no sentence when it reads on.
    if text.endswith(".") and first_sentence(f"{text} A", german=german) != text:
        return text
    return text.rstrip(".\u2026").rstrip(_CUT_PUNCTUATION)


def clean_title(text: str, *, language: str | None, max_length: int = MAX_TITLE_LENGTH) -> str:
    """One short title from a model's answer; raises InvalidPayload if none is usable."""
    if max_length < MIN_TITLE_LENGTH:
        raise ValueError(f"max_length must be at least {MIN_TITLE_LENGTH}, got {max_length}")
    text = unicodedata.normalize("NFC", text)
    text = drop_controls(_unwrap(strip_reasoning(text)))
    try:
        clean_caption(text, language=language)  # the whole answer: a refusal, or nothing at all
    except InvalidPayload as exc:
        raise InvalidPayload(f"title: {str(exc).removeprefix('caption: ')}") from None
    title = _first_title_line(text.split("\n", _MAX_LINES)[:_MAX_LINES], language)
    if title is None:
        raise InvalidPayload("title: the model returned no usable text")
    german = is_german(language)
    title = _drop_final_period(_cut(_drop_final_period(title, german), max_length), german)
    if not any(ch.isalnum() for ch in title):
        raise InvalidPayload("title: the model returned no usable text")
    return title
