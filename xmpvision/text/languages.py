"""Language tags: which language a model is asked to answer in, and how it is recorded.

One BCP-47 check serves vision.yml (`Language:`) and the sidecar's `xml:lang`.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_XML_LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


def parse_language_tag(value: str) -> str:
    """A BCP-47 tag as written (trimmed); ValueError when it is not one (`de`, `pt-BR`)."""
    tag = value.strip()
    if not _TAG.match(tag):
        raise ValueError(f"invalid language tag {value!r}; expected BCP-47, e.g. de or pt-BR")
    return tag


def xml_lang(tag: str | None) -> str | None:
    """An RFC 3066 language tag for xml:lang, or None when the value is not one."""
    if tag is None:
        return None
    tag = tag.strip()
    if not tag or tag.lower() == "x-default" or not _XML_LANG.match(tag):
        return None
    return tag


def is_english(language: str | None) -> bool:
    """English is assumed when no language was requested."""
    return language is None or not language.strip() or language.strip().lower().startswith("en")


def is_german(language: str | None) -> bool:
    return language is not None and language.strip().lower().startswith("de")


# English names of common BCP-47 tags; a model follows "Respond in German." more reliably
# than "Respond in de.". Unknown tags fall back to the tag itself.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish",
    "de": "German", "de-at": "Austrian German", "de-ch": "Swiss German", "el": "Greek",
    "en": "English", "en-gb": "British English", "en-us": "American English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "fr-ca": "Canadian French", "ga": "Irish", "gl": "Galician",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian",
    "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "lt": "Lithuanian", "lv": "Latvian", "ms": "Malay", "nb": "Norwegian Bokmål",
    "nl": "Dutch", "nn": "Norwegian Nynorsk", "no": "Norwegian", "pl": "Polish",
    "pt": "Portuguese", "pt-br": "Brazilian Portuguese", "pt-pt": "European Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian",
    "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese",
    "zh": "Chinese", "zh-cn": "Simplified Chinese", "zh-hans": "Simplified Chinese",
    "zh-hant": "Traditional Chinese", "zh-tw": "Traditional Chinese",
}  # fmt: skip


def language_name(tag: str) -> str:
    """English name of a BCP-47 tag: the full tag first, then its primary language."""
    key = tag.strip().lower().replace("_", "-")
    return LANGUAGE_NAMES.get(key) or LANGUAGE_NAMES.get(key.split("-", 1)[0]) or tag.strip()
