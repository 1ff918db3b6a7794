"""The owner's vocabulary: terms matched in any spelling, case or number, synonyms, files."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmpvision.errors import ConfigError
from xmpvision.text.vocabulary import (
    Term,
    Vocabulary,
    owner_paths,
    read_synonyms_file,
    read_vocabulary_file,
    vocabulary_from,
)


def test_answers_fold_onto_the_owners_term_and_place() -> None:
    vocabulary = Vocabulary({"Animals|Dogs|Labrador": 3, "T-Shirt": 1, "People|Paris": 1,
                             "Places|France|Paris": 2}, {"puppy": "Dogs"})
    labrador = Term(("Animals", "Dogs", "Labrador"))
    for said in ("labradors", "LABRADOR", " Labrador "):
        assert vocabulary.fold(said) == labrador
    assert vocabulary.fold("dog") == vocabulary.fold("puppies") == Term(("Animals", "Dogs"))
    assert vocabulary.fold("tshirts") == vocabulary.fold("t shirt") == Term(("T-Shirt",))
    assert vocabulary.fold("paris") == Term(("Places", "France", "Paris"))  # the more used
    assert vocabulary.fold("cat") is None
    assert vocabulary.most_used()[0] == Term(("Animals",))


def test_a_library_vocabulary_learns_a_file_does_not() -> None:
    growing, fixed = Vocabulary({}, grows=True), Vocabulary({})
    for vocabulary in (growing, fixed):
        vocabulary.learn({"Birds|Heron"})
    assert growing.fold("herons") == Term(("Birds", "Heron")) and fixed.fold("heron") is None


def test_lightroom_export_and_path_lines(tmp_path: Path) -> None:
    file = tmp_path / "keywords.txt"
    file.write_text("# mine\n[Places]\n\tFrance\n\t\tNice\n\t\t{Nizza}\nAnimals|Dogs\n"
                    "Sunset\n", encoding="utf-8")
    paths, synonyms = read_vocabulary_file(file)
    assert set(paths) == {"Places", "Places|France", "Places|France|Nice", "Animals|Dogs",
                          "Sunset"}
    assert synonyms == {"Nizza": "Places|France|Nice"}
    other = tmp_path / "synonyms.txt"
    other.write_text("Dogs, hound, pooch  # comment\n\n", encoding="utf-8")
    assert read_synonyms_file(other) == {"hound": "Dogs", "pooch": "Dogs"}
    vocabulary = vocabulary_from({"Ignored": 5}, file, other)
    assert vocabulary.fold("nizza") == Term(("Places", "France", "Nice"))
    assert vocabulary.fold("hounds") == Term(("Animals", "Dogs"))
    assert vocabulary.fold("ignored") is None and not vocabulary.grows


def test_an_unreadable_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.txt: cannot read the keyword list"):
        vocabulary_from({}, tmp_path / "missing.txt", None)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match=r"binary\.txt: cannot read the keyword list: not UTF-8"):
        vocabulary_from({}, None, binary)


def test_owner_paths_of_a_sidecar() -> None:
    assert owner_paths(["Animals", "Dog", "Sunset"], ["Animals|Dog"], ["Places/Nice"]) == {
        "Animals|Dog", "Places|Nice", "Sunset"}
