"""Caption clean-up: one plain sentence out of whatever a vision model answered.

Steps, in order: drop reasoning blocks (<think>...</think>), control and invisible
characters, emoji and code fences; unwrap a {"caption": ...} JSON object; remove markdown
(headings, bullets, numbering, quotes, bold/italic, code, links); collapse whitespace;
strip preambles ("Sure! Here is a caption:", "This image shows", "In this picture,", and
for German "Das Bild zeigt", "Auf dem Bild ist ... zu sehen") and surrounding quotes; keep
the first complete sentence (abbreviations such as "St.", "Dr.", "e.g.", "z. B." and
numbers like "3.5" do not end one); capitalise the first letter; end with ".", "!", "?" or
"…"; clip to max_length at a word boundary (a clipped caption ends with "…").

An answer with nothing left, or one that is a refusal ("I'm sorry, I can't..."), raises
InvalidPayload so that the chain can fall back to the next model.
"""

from __future__ import annotations

import re
import unicodedata

from xmpvision.errors import InvalidPayload
from xmpvision.text.answers import strip_reasoning, unwrap_caption
from xmpvision.text.german import accusative_to_nominative
from xmpvision.text.languages import is_german
from xmpvision.text.untrusted import (
    MAX_CAPTION_CHARS,
    QUOTES,
    capitalize_first,
    collapse_spaces,
    drop_controls,
    strip_pictographs,
    word_set,
)

MIN_MAX_LENGTH = 2  # room for one letter and the final punctuation
_READ_AHEAD = 8192  # titles, preambles and a clipped sentence fit in this plus 2 x max_length


# Markdown that starts a line: heading, quote, bullet, numbering.
_LINE_MARKUP = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+\u2022]\s+|\d{1,2}[.)]\s+)+")
_RULE_LINE = re.compile(r"^[-*_=]{3,}$")
_BOLD_LINE = re.compile(r"^(\*\*|__)[^*_]+\1:?$")
# Every repeated part is bounded (a span of emphasis, a link text), so each pattern is linear in
# the answer's length: an unclosed "**" or "[" cannot make it rescan the rest of the text from
# every position.
_SPAN = 200
_INLINE_MARKUP = (
    (re.compile(rf"!\[([^\]]{{0,{_SPAN}}})\]\([^)]{{0,{_SPAN}}}\)"), r"\1"),  # image
    (re.compile(rf"\[([^\]]{{1,{_SPAN}}})\]\([^)]{{0,{_SPAN}}}\)"), r"\1"),  # link
    (re.compile(rf"(\*\*|__|~~)(.{{1,{_SPAN}}}?)\1"), r"\2"),  # bold, strike-through
    (re.compile(rf"(?<![\w*])\*(?![\s*])(.{{1,{_SPAN}}}?)(?<![\s*])\*(?![\w*])"), r"\1"),
    (re.compile(rf"(?<!\w)_(?![\s_])(.{{1,{_SPAN}}}?)(?<![\s_])_(?!\w)"), r"\1"),  # _italic_
    (re.compile(rf"`([^`]{{0,{_SPAN}}})`"), r"\1"),  # inline code
    (re.compile(r"</?[A-Za-z][^<>]*>"), " "),  # stray HTML tags such as <br>
    (re.compile(r"\*{2,}|_{2,}"), ""),  # unbalanced leftovers
)

_INTERJECTION = re.compile(
    r"^(?:sure|certainly|okay|ok|of course|absolutely|alright|all right|great|gerne|"
    r"klar|natürlich|sicher)\b[!,.]+\s*",  # the punctuation keeps "Great white shark"
    re.IGNORECASE,
)
# A lead-in ending with a colon: "Here's a one-sentence caption for the image:", "Caption:".
_COLON_PREAMBLE = re.compile(
    r"^(?:(?:here(?:'s|\u2019s|\s+is|\s+are)|hier\s+(?:ist|sind))\b[^:]{0,80}"
    r"|(?:[\w'\u2019-]+\s+){0,4}(?:captions?|descriptions?|alt[- ]text|summary|title|"
    r"bildunterschrift|beschreibung|bildbeschreibung|titel)\b[^:.]{0,40})\s*:\s*",
    re.IGNORECASE,
)
_MEDIUM = r"(?:image|photo|photograph|picture|pic|shot|snapshot|scene|frame|illustration)"
_FILLER = r"(?:(?:provided|given|attached|uploaded|following)\s+)?"  # adds nothing
_NOT_CLAUSE = r"(?!(?:that|how|what|why|where|when|whether)\b)"
_EN_PREAMBLES = (
    # "This image shows", "The provided photo depicts", "The image is a close-up of"
    re.compile(
        rf"^(?:this|the)\s+{_FILLER}{_MEDIUM}\s+(?:(?:clearly|beautifully|vividly)\s+)?"
        r"(?:shows|depicts|captures|features|displays|presents|portrays|illustrates|contains|"
        r"showcases|highlights|reveals|is\s+of|is(?=\s+(?:an?|the)\b))\s+" + _NOT_CLAUSE,
        re.IGNORECASE,
    ),
    # "In this picture, we can see", "In the image, there is"
    re.compile(
        rf"^(?:in|within)\s+(?:this|the)\s+{_MEDIUM}\s*,?\s*"
        r"(?:(?:we|you|i)\s+(?:can\s+)?see\s+|there\s+(?:is|are)\s+)?",
        re.IGNORECASE,
    ),
    # "This is a photo of", "It is an image showing", "A photograph of"; an adjective stays
    # ("An aerial photo of a city" is left alone: "aerial" is worth keeping).
    re.compile(
        rf"^(?:(?:this|it)\s+is\s+)?an?\s+{_MEDIUM}\s+"
        r"(?:of|showing|depicting|that\s+shows)\s+",
        re.IGNORECASE,
    ),
)
_DE_MEDIUM = r"(?:bild|foto|photo|aufnahme|fotografie|gemälde|motiv)"
# Preambles after which the rest is an accusative object ("zeigt einen Hund").
_DE_ACCUSATIVE_PREAMBLES = (
    re.compile(
        rf"^(?:das|dieses)\s+{_DE_MEDIUM}\s+(?:hier\s+)?zeigt\s+(?:uns\s+)?"
        r"(?!(?:,|wie|dass|was|wo)\b)",
        re.IGNORECASE,
    ),
    re.compile(
        rf"^(?:auf|in)\s+(?:dem|diesem)\s+{_DE_MEDIUM}\s+"
        r"(?:sieht\s+man|sehen\s+wir|erkennt\s+man|erkennen\s+wir)\s+",
        re.IGNORECASE,
    ),
)
# "Auf dem Bild ist ein Hund zu sehen, der ..." -> "Ein Hund, der ..." (subject already).
_DE_ZU_SEHEN = re.compile(
    rf"^(?:auf|in)\s+(?:dem|diesem)\s+{_DE_MEDIUM}\s+(?:ist|sind)\s+(.+?)\s+zu\s+sehen\b",
    re.IGNORECASE,
)
_DE_SUBJECT_PREAMBLE = re.compile(r"^zu\s+sehen\s+(?:ist|sind)\s+", re.IGNORECASE)

_REFUSAL = re.compile(
    r"^(?:i'm sorry|i am sorry|sorry,|i cannot|i can't|i can not|i'm unable|i am unable|"
    r"as an ai|unfortunately,? i\b|es tut mir leid|leider kann ich|ich kann (?:keine|nicht))",
    re.IGNORECASE,
)

# Abbreviations that do not end a sentence even before a capital ("St. Louis", "e.g. Paris").
_ABBREVIATIONS = word_set(
    "st dr mr mrs ms mt prof jr sr no nr vs ca approx fig ave blvd rd hl str bzw bspw"
)
# Starts only where a run of end marks starts, and never backtracks into it: linear.
_SENTENCE_END = re.compile(r"(?<![.!?\u2026])[.!?\u2026]++[\"'\u2019\u201d\u00bb)\]]*+(?=\s|$)")
_NEXT_CHAR = re.compile(r"\S")
_INITIALS = re.compile(r"^(?:[^\W\d_]\.)*[^\W\d_]$")  # "e.g", "z.B", "U.S", "J"
_TERMINAL = re.compile(r"[.!?\u2026][\"'\u2019\u201d\u00bb)\]]*$")
_CLOSING_QUOTE = {'"': '"', "'": "'", "\u201c": "\u201d", "\u201e": "\u201c", "\u00ab": "\u00bb"}


def _strip_markdown(text: str) -> str:
    lines: list[tuple[str, bool]] = []  # (line, is a title)
    for raw in text.split("\n"):
        line = raw.strip()
        title = line.startswith("#") or bool(_BOLD_LINE.match(line))
        line = _LINE_MARKUP.sub("", line).strip()
        if line and not _RULE_LINE.match(line):
            lines.append((line, title))
    # A heading or all-bold line ("**A Day at the Beach**") followed by text is a title, not
    # the caption; a bold line at the end ("Here's a caption:\n**A dog.**") is the caption.
    text_after = [False] * len(lines)  # a line that is not a title follows line i
    seen_text = False
    for i in range(len(lines) - 1, -1, -1):
        text_after[i] = seen_text
        seen_text = seen_text or not lines[i][1]
    body = [line for i, (line, title) in enumerate(lines) if not (title and text_after[i])]
    joined = " ".join(body)
    for pattern, replacement in _INLINE_MARKUP:
        joined = pattern.sub(replacement, joined)
    return joined


def _strip_quotes(text: str) -> str:
    """Unwrap a caption in quotes, also when the model added a remark after the quote."""
    if len(text) < 2 or text[0] not in QUOTES:
        return text
    end = text.find(_CLOSING_QUOTE.get(text[0], text[0]), 1)
    if end == -1:
        return text[1:].strip()  # unbalanced opening quote
    # '"A dog runs." This caption is short.' — the quote holds a whole sentence;
    # '"Mona Lisa" hangs in the Louvre.' is left alone.
    if end == len(text) - 1 or text[end - 1] in ".!?\u2026":
        return text[1:end].strip()
    return text


def _drop_stray_quote(text: str) -> str:
    """Remove a lone quote mark left at either end (its partner was cut off)."""
    marks = [ch for ch in text if ch in QUOTES and ch not in "'\u2019"]
    if len(marks) == 1 and text[-1:] == marks[0]:
        return text[:-1].rstrip()
    if len(marks) == 1 and text[:1] == marks[0]:
        return text[1:].lstrip()
    return text


def _strip_preambles(text: str, german: bool) -> str:
    for _ in range(6):  # preambles stack: 'Sure! Here is a caption: "This image shows ..."'
        before = text
        text = _INTERJECTION.sub("", text)
        text = _COLON_PREAMBLE.sub("", text, count=1)
        text = _strip_quotes(text.strip())
        for pattern in _EN_PREAMBLES:
            text = pattern.sub("", text, count=1)
        if german:
            text = _strip_german(text)
        text = text.strip()
        if text == before:
            break
    return text


def _strip_german(text: str) -> str:
    for pattern in _DE_ACCUSATIVE_PREAMBLES:
        match = pattern.match(text)
        if match and match.end() < len(text):
            return accusative_to_nominative(text[match.end() :])
    match = _DE_ZU_SEHEN.match(text)
    if match:
        return match.group(1) + text[match.end() :]
    return _DE_SUBJECT_PREAMBLE.sub("", text, count=1)


def first_sentence(text: str, *, german: bool = False) -> str:
    """The first complete sentence of text (all of it when no sentence end is found).

    With german, a number before a period is an ordinal ("am 3. Mai"), not a sentence end."""
    for match in _SENTENCE_END.finditer(text):
        following = _NEXT_CHAR.search(text, match.end())  # not a slice: linear over matches
        if following is None:
            break
        first = following.group()
        if not (first.isupper() or first.isdigit() or first in QUOTES):
            continue  # "e.g. the dog", "approx. three"
        if match.group() == ".":
            # Only the word before the dot matters: a bounded look back keeps this linear.
            window = text[max(0, match.start() - 40) : match.start()]
            before = window.rsplit(" ", 1)[-1].lstrip("([\"'").lower()
            if before in _ABBREVIATIONS or _INITIALS.match(before):
                continue  # "St. Louis", "J. K. Rowling", "z. B. Berlin"
            if german and before.isdigit():
                continue
        return text[: match.end()]
    return text


def _clip(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    cut = text[: max_length - 1]
    space = cut.rfind(" ")
    if space > 0 and not text[len(cut)].isspace():
        cut = cut[:space]  # do not leave half a word
    return cut.rstrip(" ,;:-\u2013\u2014") + "\u2026"


def clean_caption(
    text: str, *, language: str | None = None, max_length: int = MAX_CAPTION_CHARS
) -> str:
    """One clean sentence from a model's caption answer; raises InvalidPayload if none."""
    if max_length < MIN_MAX_LENGTH:
        raise ValueError(f"max_length must be at least {MIN_MAX_LENGTH}, got {max_length}")
    german = is_german(language)
    text = unicodedata.normalize("NFC", text)
    # One sentence of at most max_length is wanted: what lies far beyond it (a title, markup
    # and preambles included) can only cost time. Controls are dropped after unwrapping: a
    # JSON answer can spell them as escapes.
    text = unwrap_caption(strip_reasoning(text))[: _READ_AHEAD + 2 * max_length]
    text = strip_pictographs(drop_controls(text))
    text = _strip_preambles(collapse_spaces(_strip_markdown(text)), german)
    if _REFUSAL.match(text):
        raise InvalidPayload(f"caption: the model refused: {text[:80]!r}")
    text = _drop_stray_quote(_strip_quotes(first_sentence(text, german=german)))
    text = text.rstrip(" ,;:-\u2013\u2014")
    if not any(ch.isalnum() for ch in text):
        raise InvalidPayload("caption: the model returned no usable text")
    text = capitalize_first(text)
    if not _TERMINAL.search(text):
        text += "."
    return _clip(text, max_length)
