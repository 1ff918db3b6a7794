"""Small helpers for text that came out of a model: it is untrusted and often decorated.

Shared by labels.py and captions.py; nothing here knows about keywords or sentences.
"""

from __future__ import annotations

import re
import unicodedata

# Quote marks models wrap answers in (ASCII, typographic, guillemets, CJK corner brackets).
QUOTES = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\u300c\u300d"

# Reasoning models (qwen3, deepseek-r1, gemma3 with "think") put their thoughts in these tags.
_THINK_TAGS = ("think", "thinking", "thought", "reasoning", "reflection")
_THINK_BLOCK = re.compile(
    r"<(" + "|".join(_THINK_TAGS) + r")\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_THINK_OPEN = re.compile(r"<(?:" + "|".join(_THINK_TAGS) + r")\b[^>]*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:" + "|".join(_THINK_TAGS) + r")\s*>", re.IGNORECASE)

# Keycap sequences ("1️⃣") would otherwise leave their digit behind.
_KEYCAP = re.compile("[0-9#*]\ufe0f?\u20e3")
_EMOJI_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}
# Invisible characters that only serve to disguise text (zero-width space, BOM, bidi overrides).
# ZWNJ (U+200C) is kept: Persian and Indic scripts need it.
_INVISIBLE = {
    "\u200b",
    "\u2060",
    "\ufeff",
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
}
_WHITESPACE_CONTROLS = {"\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"}
_SPACES = re.compile(r"\s+")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # terminal colour codes


def word_set(text: str) -> frozenset[str]:
    """A set of words written as one whitespace-separated block (easier to read and extend)."""
    return frozenset(text.split())


def strip_reasoning(text: str) -> str:
    """Remove <think>...</think>-style blocks.

    An unclosed opening tag means the answer never came: everything after it is dropped.
    A lone closing tag (Ollama strips the opening one for some models) ends the reasoning.
    """
    text = _THINK_BLOCK.sub(" ", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opening = _THINK_OPEN.search(text)
    if opening:
        text = text[: opening.start()]
    return text


def has_hard_control(text: str) -> bool:
    """True if text holds a control character other than whitespace (NUL, ESC, DEL, ...)."""
    return any(unicodedata.category(ch) == "Cc" and ch not in _WHITESPACE_CONTROLS for ch in text)


def drop_controls(text: str) -> str:
    """Remove control and invisible characters; whitespace controls become a space or newline."""
    out: list[str] = []
    for ch in _ANSI_ESCAPE.sub("", text):
        if ch in ("\r", "\u2028", "\u2029", "\x85"):
            out.append("\n")
        elif ch in _WHITESPACE_CONTROLS:
            out.append(ch if ch in "\t\n" else " ")
        elif unicodedata.category(ch) == "Cc" or ch in _INVISIBLE:
            continue
        else:
            out.append(ch)
    return "".join(out)


def _is_emoji(ch: str) -> bool:
    code = ord(ch)
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, flag tags
        return True
    # "So" covers pictographs, dingbats, regional indicators and symbols like ™ and ©.
    return unicodedata.category(ch) == "So"


def strip_emoji(text: str) -> str:
    """Remove emoji (with their joiners, variation selectors and modifiers) and other symbols."""
    text = _KEYCAP.sub("", text)
    out: list[str] = []
    for ch in text:
        if _is_emoji(ch) or ch in _EMOJI_JOINERS:
            continue
        out.append(ch)
    return "".join(out)


def _is_pictograph(ch: str) -> bool:
    code = ord(ch)
    return (
        0x1F000 <= code <= 0x1FAFF  # emoji blocks, flags, skin tones
        or 0x2600 <= code <= 0x27BF  # misc symbols and dingbats
        or 0x2B00 <= code <= 0x2BFF  # stars and arrows used as emoji
        or 0xE0020 <= code <= 0xE007F  # flag tag sequences
    )


def strip_pictographs(text: str) -> str:
    """Remove emoji only, keeping symbols that belong in prose (°, ©, ™, €)."""
    text = _KEYCAP.sub("", text)
    return "".join(ch for ch in text if not (_is_pictograph(ch) or ch in _EMOJI_JOINERS))


def collapse_spaces(text: str) -> str:
    """Collapse every run of whitespace to one space and trim."""
    return _SPACES.sub(" ", text).strip()


def capitalize_first(text: str) -> str:
    """Upper-case the first letter unless the first word's casing looks deliberate ("iPhone")."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            word = text[i:].split(" ", 1)[0]
            if has_inner_capital(word):
                return text
            return text[:i] + ch.upper() + text[i + 1 :]
    return text


def has_inner_capital(word: str) -> bool:
    """True for words whose casing a model chose on purpose: "USB", "iPhone", "McDonald's"."""
    letters = [ch for ch in word if ch.isalpha()]
    return any(ch.isupper() for ch in letters[1:])
