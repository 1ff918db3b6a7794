"""Text that came from outside (a model's answer, a file name, a sidecar) is untrusted and
often decorated: the one set of rules for what of it may be kept, displayed and stored.

Shared by labels.py, captions.py and the sidecar writer; nothing here knows about keywords or
sentences beyond their length caps.
"""

from __future__ import annotations

import re
import unicodedata

# Quote marks models wrap answers in (ASCII, typographic, guillemets, CJK corner brackets).
QUOTES = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\u300c\u300d"

# Keycap sequences ("1️⃣") would otherwise leave their digit behind.
_KEYCAP = re.compile("[0-9#*]\ufe0f?\u20e3")
_EMOJI_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}
# Invisible characters that only serve to disguise text (zero-width space, BOM, bidi overrides).
# ZWNJ (U+200C) is kept: Persian and Indic scripts need it.
_INVISIBLE = frozenset({
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u061c",  # Arabic letter mark
    *(chr(c) for c in range(0x202A, 0x202F)),  # embeddings and overrides
    *(chr(c) for c in range(0x2066, 0x206A)),  # isolates
})
_WHITESPACE_CONTROLS = {"\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"}
_SPACES = re.compile(r"\s+")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # terminal colour codes


def word_set(text: str) -> frozenset[str]:
    """A set of words written as one whitespace-separated block (easier to read and extend)."""
    return frozenset(text.split())


def _hard(ch: str) -> bool:
    category = unicodedata.category(ch)
    return (category == "Cc" and ch not in _WHITESPACE_CONTROLS) or category == "Cs"


def has_hard_control(text: str) -> bool:
    """True if text holds a control character other than whitespace (NUL, ESC, DEL, ...) or a
    lone surrogate (which no UTF-8 output can hold)."""
    return any(_hard(ch) for ch in text)


def drop_controls(text: str) -> str:
    """Remove control, bidi and invisible characters and lone surrogates; whitespace controls
    become a space or newline. The one policy for every text a model writes."""
    out: list[str] = []
    for ch in _ANSI_ESCAPE.sub("", text):
        if ch in ("\r", "\u2028", "\u2029", "\x85"):
            out.append("\n")
        elif ch in _WHITESPACE_CONTROLS:
            out.append(ch if ch in "\t\n" else " ")
        elif ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cs"):
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


# --- storing it in XMP ---------------------------------------------------------------------
# XML escaping itself is done by the serialiser; here we drop what XML 1.0 cannot hold at all
# (control characters, surrogates, U+FFFE/U+FFFF), normalise line ends the way an XML parser
# would (so the hash we record matches what we read back), and cap lengths.

MAX_CAPTION_CHARS = 4096  # PhotoPrism's caption limit
MAX_KEYWORD_CHARS = 100

def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _drop_unsafe(text: str, keep: str) -> str:
    out = []
    for char in text:
        if char in keep:
            out.append(char)
            continue
        # Cc: C0/C1 control characters; Cs: lone surrogates (e.g. from undecodable bytes);
        # noncharacters such as U+FFFE are forbidden by XML 1.0 or rejected by readers; bidi
        # and invisible controls would make a stored value display as something else.
        if (unicodedata.category(char) in ("Cc", "Cs") or _is_noncharacter(ord(char))
                or char in _INVISIBLE):
            continue
        out.append(char)
    return "".join(out)


def xml_storable(text: str) -> str:
    """The owner's text as XML 1.0 can hold it: only what it cannot (controls other than tab
    and line breaks, lone surrogates, U+FFFE/U+FFFF) is dropped; the rest stays as typed."""
    return "".join(ch for ch in text if ch in "\t\n\r" or not (
        unicodedata.category(ch) in ("Cc", "Cs") or (ord(ch) & 0xFFFE) == 0xFFFE))


def xml_caption(text: str) -> str:
    """Caption text: line breaks kept as \\n, tabs kept, other controls dropped, trimmed, capped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _drop_unsafe(text, keep="\n\t").strip()
    return text[:MAX_CAPTION_CHARS].rstrip()


def xml_keyword(text: str) -> str:
    """One-line keyword; `|` and `/` would split it into a hierarchy in lr/digiKam fields."""
    text = _drop_unsafe(text.replace("|", "-").replace("/", "-"), keep="")
    text = " ".join(text.split())
    return text[:MAX_KEYWORD_CHARS].rstrip()


def photo_id(name: str) -> str:
    """The photo's file name as text storable in XML; undecodable bytes become \\xNN escapes."""
    raw = name.encode("utf-8", "surrogateescape")
    return _drop_unsafe(raw.decode("utf-8", "backslashreplace"), keep="")


# --- showing it on a terminal --------------------------------------------------------------

def printable(text: str) -> str:
    """`text` safe for one line of human-readable output: control characters (a newline in a
    file name too), bidi and invisible controls and undecodable bytes are shown as escapes,
    never interpreted by the terminal. The same text can then be written under any locale."""
    if text.isprintable():
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8 (surrogate escape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)
