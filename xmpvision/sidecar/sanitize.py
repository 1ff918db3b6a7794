"""Make untrusted model text safe to store in XMP.

XML escaping itself is done by the serialiser; here we drop what XML 1.0 cannot hold at all
(control characters, surrogates, U+FFFE/U+FFFF), normalise line ends the way an XML parser
would (so the hash we record matches what we read back), and cap lengths.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CAPTION_CHARS = 4096  # PhotoPrism's caption limit
MAX_KEYWORD_CHARS = 100

_LANG_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _drop_unsafe(text: str, keep: str) -> str:
    out = []
    for char in text:
        if char in keep:
            out.append(char)
            continue
        # Cc: C0/C1 control characters; Cs: lone surrogates (e.g. from undecodable bytes);
        # noncharacters such as U+FFFE are forbidden by XML 1.0 or rejected by readers.
        if unicodedata.category(char) in ("Cc", "Cs") or _is_noncharacter(ord(char)):
            continue
        out.append(char)
    return "".join(out)


def clean_caption(text: str) -> str:
    """Caption text: line breaks kept as \\n, tabs kept, other controls dropped, trimmed, capped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _drop_unsafe(text, keep="\n\t").strip()
    return text[:MAX_CAPTION_CHARS].rstrip()


def clean_keyword(text: str) -> str:
    """One-line keyword; `|` and `/` would split it into a hierarchy in lr/digiKam fields."""
    text = _drop_unsafe(text.replace("|", "-").replace("/", "-"), keep="")
    text = " ".join(text.split())
    return text[:MAX_KEYWORD_CHARS].rstrip()


def clean_language(tag: str | None) -> str | None:
    """An RFC 3066 language tag for xml:lang, or None when the value is not one."""
    if tag is None:
        return None
    tag = tag.strip()
    if not tag or tag.lower() == "x-default" or not _LANG_TAG.match(tag):
        return None
    return tag


def photo_id(name: str) -> str:
    """The photo's file name as text storable in XML; undecodable bytes become \\xNN escapes."""
    raw = name.encode("utf-8", "surrogateescape")
    return _drop_unsafe(raw.decode("utf-8", "backslashreplace"), keep="")
