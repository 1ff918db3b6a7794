"""Label normalisation: turn what a model said into keywords worth writing to a sidecar.

Called by the Ollama engine (raw label dicts from the model's JSON) and the TensorFlow
classifier. Numbers follow PhotoPrism:

- thresholds in percent (the configuration validates them and supplies the defaults);
- missing, unreadable or non-positive confidence -> 0.5; missing, unreadable or
  non-positive topicality -> the confidence (Go cannot tell 0 from missing, so PhotoPrism
  treats them alike and so do we);
- priority from topicality: >=0.95 5, >=0.9 4, >=0.75 3, >=0.6 2, >=0.4 1, >=0.15 -1, else -2.

Scores may be fractions (0.9), percentages (90) or strings ("0.9", "90%", "0,9"). A bare
number above 1 is a percentage; exactly 1 is 100% unless the same batch holds percentages.
A string label may carry its scores after the name, as the compact answers prompts.py asks
for do: "dog:96" (confidence), "dog:96:90" (confidence, topicality); also "dog (0.95)".

Names are cleaned (emoji, "#", numbering, quotes, surrounding punctuation, "(...)" asides
and "label:" prefixes removed; whitespace collapsed), then dropped when empty, without a
letter, longer than MAX_LABEL_CHARS, more than MAX_LABEL_WORDS words (a sentence, not a
keyword), holding control characters, or blocklisted. English labels (language None or
"en*") additionally lose a leading article or count ("a dog", "3 dogs"), have their head
noun singularised (plurals.py) and are title-cased like PhotoPrism ("Ferris Wheel",
"Statue of Liberty"), keeping words whose casing is deliberate ("USB", "iPhone"). Labels in
other languages are never translated, singularised or blocklisted as English; only their
first letter is capitalised, since title-case rules differ between languages.
Casing carries meaning only when the model uses it: a multi-word label in capitals
("Niagara Falls") from a model that writes common nouns in lower case is a name and is not
singularised; a label in capitals with a long word ("HOT AIR BALLOON") is shouting.
Duplicates (same canonical_key) keep the highest confidence and the highest topicality.
The result is sorted by priority, then confidence, and capped at max_labels.

`mode` (vision.yml's `Normalize`) chooses how far names are rewritten:

- "phrase": as described above; compounds stay whole ("Ferris Wheel").
- "single-word": as "phrase", then a multi-word English label is collapsed to its head noun,
  the singularised last word, or the word before a preposition ("Golden Retriever" ->
  "Retriever", "Sandy Beaches" -> "Beach", "Bottles of Wine" -> "Bottle"). Kept whole: names
  (the capitals rule above: "Statue of Liberty"), labels holding a non-Latin letter, labels
  without a head ("Fish and Chips") or whose head has no letter ("Route 66"). Labels that
  collapse to the same word merge like any duplicate.
- "off": the model's words as they are: no article or count removal, singularising, casing
  or collapsing. Only the untrusted-text cleanup above (emoji, markup, numbering, control
  characters, length, word count and blocklists) applies.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from xmpvision.results import Label
from xmpvision.sources import normalize_source
from xmpvision.text.answers import LABEL_NAME_KEYS
from xmpvision.text.languages import is_english
from xmpvision.text.plurals import head_index, singularize_phrase
from xmpvision.text.untrusted import (
    QUOTES,
    collapse_spaces,
    has_hard_control,
    has_inner_capital,
    strip_emoji,
    word_set,
)

log = logging.getLogger(__name__)

# How far label names are rewritten (vision.yml's `Normalize`); see the module docstring.
NormalizeMode = Literal["phrase", "single-word", "off"]
NORMALIZE_MODES: tuple[NormalizeMode, ...] = get_args(NormalizeMode)

MISSING_CONFIDENCE = 0.5
MAX_LABEL_CHARS = 64
MAX_LABEL_WORDS = 5

# Meaningless as keywords in English: the medium itself, placeholders models answer with
# when they see nothing, and schema words echoed from the prompt's example JSON.
BLOCKLIST_EN: frozenset[str] = frozenset(
    {
        "photo", "image", "picture", "photograph", "photography", "snapshot", "pic", "shot",
        "background", "foreground", "no", "yes", "unknown", "object", "thing", "item",
        "stuff", "other", "misc", "miscellaneous", "various", "nothing", "something",
        "unidentified", "unclear", "untitled", "label", "keyword", "tag", "name",
        "example", "sample", "string", "confidence", "topicality", "no label",
        "no object", "not sure", "not applicable", "not available", "none detected",
        "nothing detected", "no object detected", "image file", "stock photo",
    }
)  # fmt: skip
# Meaningless in any language: file formats and null answers models emit as literal words.
BLOCKLIST_ANY: frozenset[str] = frozenset(
    {"n/a", "na", "none", "null", "nil", "nan", "jpeg", "jpg", "png", "heic", "tiff", "gif"}
)

_CONFIDENCE_KEYS = ("confidence", "score", "probability")
_TOPICALITY_KEYS = ("topicality", "relevance")

# Separators of several labels stuffed into one string; "1,000" keeps its comma. `|` is not one:
# it is a hierarchy separator in lr:hierarchicalSubject, and becomes "-" like "/" (_HIERARCHY).
_SPLIT = re.compile(r",(?!\d)|[;\n]")
# lr:hierarchicalSubject and digiKam:TagsList read these as levels; a label is one keyword, and
# NDJSON shows the name the sidecar holds ("Salt/pepper" -> "Salt-pepper").
_HIERARCHY = re.compile(r"\s*[|/]\s*")
# A score written after the name: "dog (0.95)", "dog [95%]", "dog: 0.9", "dog 95%".
_INLINE_SCORE = re.compile(
    r"(?:\s*[(\[]\s*(\d+(?:[.,]\d+)?\s*%?)\s*[)\]]|\s*[:=]\s*(\d+(?:[.,]\d+)?\s*%?)"
    r"|\s+(\d+(?:[.,]\d+)?\s*%))\s*$"
)
# One score of the compact form a labels prompt asks for when a topicality threshold is set:
# "name:confidence:topicality" ("dog:96:90"); one score after the name is _INLINE_SCORE's.
_SCORE = re.compile(r"\s*\d+(?:[.,]\d+)?\s*%?\s*")
_LIST_MARKER = re.compile(r"^(?:[-*+\u2022\u00b7\u2013\u2014>#]+\s*|\d{1,3}[.)](?:\s+|$))")
_PREFIX = re.compile(r"^(?:labels?|keywords?|tags?|names?|objects?)\s*[:=]\s*", re.IGNORECASE)
_ASIDE = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")
_ABBREVIATION_END = re.compile(r"(?:\b[A-Za-z]\.){2,}$")  # keep the dot of "D.C." or "U.S."
_COUNT_WORDS = word_set(
    "two three four five six seven eight nine ten eleven twelve several many multiple some "
    "various few numerous"
)
_SMALL_WORDS = word_set("a an and as at but by for from in into nor of on or over the to with")
# All-caps words this long are shouting, not acronyms ("NASA", "UNESCO"): 6 letters when the
# whole answer is in capitals, more than 6 for a single label ("HOT AIR BALLOON").
_SHOUTING_MIN_WORD = 6


@dataclass(frozen=True)
class RawLabel:
    """A label as a model gave it, before any checks. Scores may be fractions, percentages
    or strings; None means the model gave none."""

    name: str
    confidence: float | str | None = None
    topicality: float | str | None = None


@dataclass
class _Candidate:
    name: str  # cleaned, not yet cased
    confidence: object
    topicality: object
    order: int


def canonical_key(name: str) -> str:
    """Key under which two keywords count as the same: Unicode-compatibility-normalised,
    case-folded, hyphens/underscores as spaces, whitespace collapsed ("T-Shirt" == "t shirt").

    It does not singularise: compare names that went through normalize_labels."""
    text = unicodedata.normalize("NFKC", name).replace("\u2019", "'")
    text = re.sub(r"[-_\u2010\u2011\u2012\u2013]", " ", text)
    return collapse_spaces(text).casefold()


def priority_from_topicality(topicality: float) -> int:
    """PhotoPrism's priority scale for a topicality in 0..1."""
    for floor, priority in ((0.95, 5), (0.9, 4), (0.75, 3), (0.6, 2), (0.4, 1), (0.15, -1)):
        if topicality >= floor:
            return priority
    return -2


def _read_number(value: object) -> tuple[float, bool] | None:
    """(number, written with %) or None when value is not a usable number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
        percent = False
    elif isinstance(value, str):
        text = value.strip()
        percent = text.endswith("%")
        text = text.rstrip("%").strip()
        if re.fullmatch(r"\d+,\d+", text):
            text = text.replace(",", ".")  # decimal comma, e.g. from German prompts
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return (number, percent) if math.isfinite(number) else None


def _scores(values: list[object]) -> list[float | None]:
    """Scores as fractions in (0, 1], None where missing or unusable."""
    numbers = [_read_number(v) for v in values]
    percent_batch = any(n is not None and (n[1] or n[0] > 1) for n in numbers)
    out: list[float | None] = []
    for n in numbers:
        if n is None:
            out.append(None)
            continue
        number, percent = n
        fraction = (
            number / 100 if percent or number > 1 or (percent_batch and number == 1) else number
        )
        out.append(fraction if 0 < fraction <= 1 else None)
    return out


def _get(mapping: Mapping[str, object], keys: tuple[str, ...]) -> object:
    lowered = {str(k).strip().lower(): v for k, v in mapping.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def _as_raw(item: RawLabel | Mapping[str, object] | str) -> tuple[object, object, object]:
    if isinstance(item, RawLabel):
        return item.name, item.confidence, item.topicality
    if isinstance(item, str):
        return item, None, None
    return _get(item, LABEL_NAME_KEYS), _get(item, _CONFIDENCE_KEYS), _get(item, _TOPICALITY_KEYS)


def _strip_edges(text: str) -> str:
    """Trim quotes, punctuation and spaces from both ends, keeping the dot of "D.C."."""
    while text:
        before = text
        while text and (text[0] in QUOTES or text[0].isspace() or _is_punct(text[0])):
            text = text[1:]
        while text and (text[-1] in QUOTES or text[-1].isspace() or _is_punct(text[-1])):
            if text[-1] == "." and _ABBREVIATION_END.search(text):
                break
            if text[-1] == ")" and text.count("(") >= text.count(")"):
                break
            text = text[:-1]
        if text == before:
            break
    return text


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def _clean_name(raw: str) -> tuple[str, str | None]:
    """(cleaned name, inline score text or None). The name is "" when nothing usable is left."""
    text = collapse_spaces(strip_emoji(raw))
    text = unicodedata.normalize("NFKC", text)
    for _ in range(3):  # markers can stack: "- 1. #sunset"
        text = _LIST_MARKER.sub("", _strip_leading_quotes(text))
    text = _PREFIX.sub("", text)
    score: str | None = None
    match = _INLINE_SCORE.search(text)
    if match and match.start() > 0:
        score = next(g for g in match.groups() if g is not None)
        text = text[: match.start()]
    text = _strip_edges(text)
    without_asides = _strip_edges(_ASIDE.sub("", text))
    if without_asides:
        text = without_asides  # "golden retriever (dog)" -> "golden retriever"
    return collapse_spaces(text), score


def _strip_leading_quotes(text: str) -> str:
    return text.lstrip(QUOTES + " ")


def _english_form(words: list[str], proper_noun: bool) -> list[str]:
    if len(words) > 1 and (words[0].lower() in ("a", "an") or words[0] == "the"):
        words = words[1:]  # "a dog"; a capitalised "The" may start a name ("The Hague")
    if proper_noun:
        return words  # "Niagara Falls" from a model that lowercases common nouns
    singular = singularize_phrase(words)
    counted = len(words) > 1 and (words[0].isdigit() or words[0].lower() in _COUNT_WORDS)
    if counted and singular != words:
        singular = singular[1:]  # "3 dogs" -> "dog"; "7 Eleven" is not a count
    return singular


def _title_case(words: list[str]) -> str:
    out: list[str] = []
    for i, word in enumerate(words):
        if i > 0 and word.lower() in _SMALL_WORDS and not has_inner_capital(word):
            out.append(word.lower())
        else:
            out.append("-".join(_cap_word(part) for part in word.split("-")))
    return " ".join(out)


def _cap_word(word: str) -> str:
    if not word or has_inner_capital(word):
        return word  # "USB", "iPhone", "McDonald's"
    return word[0].upper() + word[1:].lower()


def _sentence_case(words: list[str]) -> str:
    text = " ".join(words)
    return text if has_inner_capital(words[0]) else text[:1].upper() + text[1:]


def _is_shouting(names: list[str]) -> bool:
    """Every label in capitals and some word too long for an acronym: casing means nothing."""
    lettered = [n for n in names if any(ch.isalpha() for ch in n)]
    return (
        bool(lettered)
        and all(n == n.upper() for n in lettered)
        and any(len(w) >= _SHOUTING_MIN_WORD for n in lettered for w in n.split())
    )


def _unshout(name: str) -> str:
    """Lower-case one label in capitals that holds a word too long for an acronym."""
    shouting = name == name.upper() and any(len(w) > _SHOUTING_MIN_WORD for w in name.split())
    return name.lower() if shouting else name


def _lowercase_style(names: list[str]) -> bool:
    """True when the model writes most common nouns in lower case, so capitals mark names."""
    firsts = [next((ch for ch in n if ch.isalpha()), "") for n in names]
    firsts = [ch for ch in firsts if ch]
    return bool(firsts) and sum(ch.islower() for ch in firsts) * 2 >= len(firsts)


def _looks_like_name(words: list[str]) -> bool:
    """ "Niagara Falls", "Statue of Liberty": several words, each capitalised or a small word."""
    return len(words) > 1 and all(
        w in _SMALL_WORDS or (w[:1].isupper() and not has_inner_capital(w)) for w in words
    )


def _is_latin(words: list[str]) -> bool:
    return all(
        unicodedata.name(ch, "").startswith("LATIN") for word in words for ch in word
        if ch.isalpha()
    )


def _head_noun(words: list[str]) -> list[str]:
    """The single word a multi-word English label collapses to, or the words unchanged."""
    index = head_index(words)
    if len(words) < 2 or index is None or not _is_latin(words):
        return words
    head = words[index]
    return [head] if any(ch.isalpha() for ch in head) else words


def _candidates(raw: Iterable[RawLabel | Mapping[str, object] | str]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for item in raw:
        name, confidence, topicality = _as_raw(item)
        if not isinstance(name, str):
            log.debug("label without a text name dropped: %r", item)
            continue
        if has_hard_control(name):
            log.debug("label with control characters dropped: %r", name)
            continue
        for part in _SPLIT.split(name):
            conf, top = confidence, topicality
            if confidence is None:
                part, conf, top = _two_scores(part, topicality)
            cleaned, inline = _clean_name(part)
            if conf is None and inline is not None:
                conf = inline
            out.append(_Candidate(cleaned, conf, top, len(out)))
    return out


def _two_scores(text: str, topicality: object) -> tuple[str, object, object]:
    """"dog:96:90" as ("dog", "96", "90"); any other text as it is, without scores (split,
    not one pattern: a pattern with a lazy name before optional spaces backtracks
    quadratically over a long run of spaces)."""
    name, *scores = text.rsplit(":", 2)
    if len(scores) == 2 and name.strip() and all(_SCORE.fullmatch(x) for x in scores):
        return name, scores[0].strip(), scores[1].strip()
    return text, None, topicality


def _acceptable(name: str, english: bool) -> bool:
    if not name or not any(ch.isalpha() for ch in name):
        return False
    if len(name) > MAX_LABEL_CHARS or len(name.split()) > MAX_LABEL_WORDS:
        return False
    key = canonical_key(name)
    return key not in BLOCKLIST_ANY and not (english and key in BLOCKLIST_EN)


def _display(words: list[str], english: bool, lowercase_style: bool, mode: NormalizeMode) -> str:
    """A cleaned label's name as written to the sidecar."""
    if mode == "off":
        return " ".join(words)
    if not english:
        return _sentence_case(words)
    # Only multi-word names count: a lone "Dogs" is as likely a capitalised plural.
    proper = lowercase_style and _looks_like_name(words)
    words = _english_form(words, proper)
    if mode == "single-word" and not proper:
        words = _head_noun(words)
    return _title_case(words)


def normalize_labels(
    raw: Iterable[RawLabel | Mapping[str, object] | str],
    *,
    source: str,
    model: str,
    engine: str,
    language: str | None = None,
    confidence_threshold: float,
    topicality_threshold: float,
    max_labels: int,
    mode: NormalizeMode,
) -> list[Label]:
    """Clean, filter, deduplicate, rank and cap the labels a model produced.

    `raw` items are RawLabel, mappings with a name under "name"/"label"/"keyword"/"tag"/
    "title" (scores under "confidence"/"score"/"probability" and "topicality"/"relevance",
    keys case-insensitive) or plain strings. A string may hold several labels separated by
    commas, semicolons or newlines. Raises UnknownSourceError (a ValueError) for an unknown
    source and ValueError when max_labels < 1 or `mode` is not a NormalizeMode. May return an
    empty list.
    """
    if max_labels < 1:
        raise ValueError(f"max_labels must be at least 1, got {max_labels}")
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"mode must be one of {', '.join(NORMALIZE_MODES)}, got {mode!r}")
    source = normalize_source(source)
    english = is_english(language)
    min_confidence = confidence_threshold
    min_topicality = topicality_threshold

    candidates = [c for c in _candidates(raw) if c.name]
    confidences = _scores([c.confidence for c in candidates])
    topicalities = _scores([c.topicality for c in candidates])
    names = [c.name for c in candidates]
    if mode != "off":
        shouting = _is_shouting(names)
        names = [n.lower() for n in names] if shouting else [_unshout(n) for n in names]
    lowercase_style = english and _lowercase_style(names)

    best: dict[str, tuple[int, str, float, float]] = {}  # key -> (order, display, conf, top)
    for candidate, name, conf, top in zip(
        candidates, names, confidences, topicalities, strict=True
    ):
        display = _display(name.split(), english, lowercase_style, mode)
        if not _acceptable(display, english):
            log.debug("label dropped: %r", candidate.name)
            continue
        display = _HIERARCHY.sub("-", display)
        confidence = conf if conf is not None else MISSING_CONFIDENCE
        topicality = top if top is not None else confidence
        key = canonical_key(display)
        previous = best.get(key)
        if previous is None:
            best[key] = (candidate.order, display, confidence, topicality)
        elif confidence > previous[2]:
            best[key] = (previous[0], display, confidence, max(topicality, previous[3]))
        else:
            best[key] = (previous[0], previous[1], previous[2], max(topicality, previous[3]))

    kept = [
        entry
        for entry in best.values()
        # Rounded so that 0.29 is not "below" a threshold of 29 through float noise.
        if round(entry[2] * 100, 6) >= min_confidence and round(entry[3] * 100, 6) >= min_topicality
    ]
    labels = [
        Label(
            name=display,
            confidence=confidence,
            source=source,
            model=model,
            engine=engine,
            topicality=topicality,
            priority=priority_from_topicality(topicality),
        )
        for _, display, confidence, topicality in sorted(
            kept, key=lambda e: (-priority_from_topicality(e[3]), -e[2], e[0])
        )
    ]
    return labels[:max_labels]
