"""The owner's keyword vocabulary: the terms they use, with their place in their hierarchy, and
the synonyms that stand for them. A model's keyword is folded onto the owner's term when it is
the same word in another spelling, case or number ("dogs", "DOG", "t shirt" for "T-shirt"), or
a synonym of it; the owner's term is written as they spell it, where it sits in their tree.

Files: a vocabulary lists one keyword per line, "|" between the levels of a hierarchy
("Animals|Dogs|Labrador"), or is Lightroom's keyword export (levels indented by tabs,
[bracketed] keywords, {synonyms} under their keyword). A synonyms file has one line per term:
the term (a path or a keyword) and its synonyms, separated by commas. "#" starts a comment.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from xmpvision.errors import ConfigError
from xmpvision.people import PEOPLE_BRANCH
from xmpvision.text.owner import MAX_HINT_LIST_CHARS, MAX_HINT_VALUE_CHARS, prompt_list
from xmpvision.text.plurals import singularize_phrase

_SEPARATORS = re.compile(r"[\s\-_]+")


def match_key(text: str) -> str:
    """What two spellings of one keyword share: case, hyphens, spaces and the number of the
    head noun ignored ("T-Shirts", "t shirt" -> "t shirt")."""
    words = [w for w in _SEPARATORS.split(text.strip().casefold()) if w]
    return " ".join(singularize_phrase(words)) if words else ""


@dataclass(frozen=True)
class Term:
    """One of the owner's keywords: its path in their hierarchy, the keyword last."""

    path: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path[-1]


class Vocabulary:
    """Terms by match key. A leaf used under two parents folds to the more used path."""

    def __init__(self, uses: Mapping[str, int], synonyms: Mapping[str, str] | None = None,
                 *, grows: bool = False) -> None:
        """`uses`: "|"-separated paths and how many photos use each; `synonyms`: synonym ->
        the term (a path or a keyword) it stands for; `grows`: `learn` adds terms (the
        library's vocabulary, which a scan extends as it reads the owner's keywords)."""
        self.grows = grows
        # A scan's writer thread learns while its workers build prompts from the terms.
        self._lock = threading.Lock()
        self._offer: str | None = None
        self._terms: dict[str, Term] = {}
        self._uses: dict[Term, int] = {}
        self._squashed: dict[str, Term | None] = {}
        for path, count in sorted(uses.items(), key=lambda item: -item[1]):
            self._add(path, count)
        for synonym, target in (synonyms or {}).items():
            levels = _levels(target)
            if levels:
                term = self._terms.get(match_key(levels[-1])) or Term(levels)
                self._uses.setdefault(term, 0)
                self._key(match_key(term.name), term)
                self._key(match_key(synonym), term)

    def _key(self, key: str, term: Term) -> None:
        if key in self._terms:
            return
        self._terms[key] = term
        # "Tshirt" for "T-shirt": the same letters without spaces, where that is unambiguous.
        joined = key.replace(" ", "")
        self._squashed[joined] = term if self._squashed.get(joined, term) == term else None

    def _add(self, path: str, count: int) -> None:
        levels = _levels(path)
        for depth in range(1, len(levels) + 1):
            term = Term(levels[:depth])
            self._uses[term] = self._uses.get(term, 0) + count
            self._key(match_key(term.name), term)

    def learn(self, paths: Iterable[str]) -> None:
        """Add the owner's keywords of one more photo (only to a vocabulary that grows)."""
        if self.grows:
            with self._lock:
                for path in paths:
                    self._add(path, 1)
                self._offer = None

    def __bool__(self) -> bool:
        return bool(self._terms)

    def __len__(self) -> int:
        return len(self._uses)

    def fold(self, keyword: str) -> Term | None:
        """The owner's term `keyword` stands for, or None if it is new to them."""
        key = match_key(keyword)
        with self._lock:
            return self._terms.get(key) or self._squashed.get(key.replace(" ", ""))

    def most_used(self) -> list[Term]:
        """The terms, most used first."""
        with self._lock:
            return sorted(self._uses, key=lambda term: -self._uses[term])

    def offer(self) -> str:
        """The most used terms as a prompt may quote them (Context: vocabulary): untrusted
        text, bounded like every hint; never names of people."""
        with self._lock:
            if self._offer is None:
                terms = sorted(self._uses, key=lambda term: -self._uses[term])
                names = [t.name for t in terms if t.path[0].casefold() != PEOPLE_BRANCH]
                self._offer = prompt_list(names, each=MAX_HINT_VALUE_CHARS,
                                          total=MAX_HINT_LIST_CHARS)
            return self._offer


def _levels(path: str) -> tuple[str, ...]:
    return tuple(level.strip() for level in path.split("|") if level.strip())


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        raise ConfigError([f"{path}: cannot read the keyword list: {reason or exc}"]) from None


def read_vocabulary_file(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    """(paths, synonyms) of a vocabulary file (see the module)."""
    paths: dict[str, int] = {}
    synonyms: dict[str, str] = {}
    stack: list[str] = []
    for line in _lines(path):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("{") and text.endswith("}"):  # a Lightroom synonym of the last
            if stack:
                synonyms[text[1:-1].strip()] = "|".join(stack)
            continue
        depth = len(line) - len(line.lstrip("\t"))
        name = text[1:-1].strip() if text.startswith("[") and text.endswith("]") else text
        if "|" in name:
            stack = [level.strip() for level in name.split("|") if level.strip()]
        else:
            stack = [*stack[:depth], name]
        paths["|".join(stack)] = 1
    return paths, synonyms


def read_synonyms_file(path: Path) -> dict[str, str]:
    """synonym -> term of a synonyms file (see the module)."""
    found: dict[str, str] = {}
    for line in _lines(path):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        term, *others = (part.strip() for part in text.split(","))
        for other in others:
            if other and term:
                found[other] = term
    return found


def vocabulary_from(uses: Mapping[str, int], file: Path | None,
                    synonyms_file: Path | None) -> Vocabulary:
    """The file's terms, else the library's `uses` (a vocabulary that grows), with the
    synonyms of the file and of the synonyms file. Raises ConfigError naming a file that
    cannot be read."""
    synonyms: dict[str, str] = {}
    if file is not None:
        uses, synonyms = read_vocabulary_file(file)
    if synonyms_file is not None:
        synonyms.update(read_synonyms_file(synonyms_file))
    return Vocabulary(uses, synonyms, grows=file is None)


def owner_paths(subjects: Iterable[str], hierarchical: Iterable[str],
                tags_list: Iterable[str]) -> set[str]:
    """The owner's keywords of one sidecar as "|"-separated paths: each hierarchy path, and
    each flat keyword that is no level of one."""
    paths = {p.strip() for p in hierarchical if p.strip()}
    paths |= {p.strip().replace("/", "|") for p in tags_list if p.strip()}
    levels = {match_key(level) for path in paths for level in path.split("|")}
    paths |= {s.strip() for s in subjects if s.strip() and match_key(s) not in levels}
    return paths
