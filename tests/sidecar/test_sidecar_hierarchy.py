"""Keywords under a parent ("AI|Dog") and nested by category ("AI|Animal|Cat"): written to
lr:hierarchicalSubject and digiKam:TagsList, dc:subject keeps the keyword; reset, user edits
and a changed parent touch only our paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.sidecar.sidecar_helpers import (
    FIXTURES,
    NOW,
    exiftool_json,
    exiftool_warnings,
    exiv2_xmp,
    label,
)
from xmpvision.results import Label, PhotoResult
from xmpvision.sidecar import read_sidecar, reset_sidecar, update_sidecar

USER_HOLIDAY = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:digiKam="http://www.digikam.org/ns/1.0/">
   <dc:subject><rdf:Bag><rdf:li>Holiday</rdf:li><rdf:li>Anna</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>AI|Holiday</rdf:li><rdf:li>People|Anna</rdf:li>
   </rdf:Bag></lr:hierarchicalSubject>
   <digiKam:TagsList><rdf:Seq><rdf:li>AI/Holiday</rdf:li><rdf:li>People/Anna</rdf:li>
   </rdf:Seq></digiKam:TagsList>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def cat(source: str = "ollama") -> Label:
    return Label(name="Cat", confidence=0.9, source=source, model="nasnet", engine="tensorflow",
                 categories=("Animal",))


def labels(*items: Label | str) -> PhotoResult:
    return PhotoResult(labels=[item if isinstance(item, Label) else label(item)
                               for item in items])


def _items(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _exiftool(path: Path) -> tuple[list[str], list[str], list[str]]:
    (data,) = exiftool_json([path])
    return (_items(data.get("XMP-dc:Subject")), _items(data.get("XMP-lr:HierarchicalSubject")),
            _items(data.get("XMP-digiKam:TagsList")))


def _exiv2(path: Path) -> tuple[list[str], list[str], list[str]]:
    xmp = exiv2_xmp(path)
    return (_items(xmp.get("Xmp.dc.subject")), _items(xmp.get("Xmp.lr.hierarchicalSubject")),
            _items(xmp.get("Xmp.digiKam.TagsList")))


READERS = {"exiftool": _exiftool, "exiv2": _exiv2}


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_1.jpg"
    path.write_bytes(b"\xff\xd8\xff\xd9")
    return path


def _with_user_tags(photo: Path) -> Path:
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_text(USER_HOLIDAY, encoding="utf-8")
    return sidecar


def _edit(sidecar: Path, old: str, new: str) -> None:
    data = sidecar.read_text(encoding="utf-8")
    assert old in data
    sidecar.write_text(data.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_parent_and_categories_read_back(photo: Path, reader: str) -> None:
    sidecar = _with_user_tags(photo)
    change = update_sidecar(photo, labels("Dog", cat()), keyword_parent="AI", now=NOW)
    assert change.keywords_added == ("Dog", "Cat")
    assert READERS[reader](sidecar) == (
        ["Holiday", "Anna", "Dog", "Cat"],
        ["AI|Holiday", "People|Anna", "AI|Dog", "AI|Animal|Cat"],
        ["AI/Holiday", "People/Anna", "AI/Dog", "AI/Animal/Cat"],
    )
    assert exiftool_warnings(sidecar) == set()


@pytest.mark.parametrize("reader", sorted(READERS))
def test_categories_without_a_parent_and_no_tagslist_created(photo: Path, reader: str) -> None:
    change = update_sidecar(photo, labels("Dog", cat()), now=NOW)
    assert READERS[reader](change.path) == (["Dog", "Cat"], ["Dog", "Animal|Cat"], [])


@pytest.mark.parametrize("reader", sorted(READERS))
def test_digikam_sidecar_gets_nested_paths(tmp_path: Path, reader: str) -> None:
    photo = tmp_path / "IMG_2.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    shutil.copy(FIXTURES / "digikam.jpg.xmp", tmp_path / "IMG_2.jpg.xmp")
    update_sidecar(photo, labels("Gate", cat()), keyword_parent="Vision|AI", now=NOW)
    assert READERS[reader](tmp_path / "IMG_2.jpg.xmp") == (
        ["Berlin", "Anna", "Gate", "Cat"],
        ["Places|Berlin", "People|Anna", "Vision|AI|Gate", "Vision|AI|Animal|Cat"],
        ["Places/Berlin", "People/Anna", "Vision/AI/Gate", "Vision/AI/Animal/Cat"],
    )


def test_provenance_remembers_the_paths(photo: Path) -> None:
    _with_user_tags(photo)
    change = update_sidecar(photo, labels("Dog", cat()), keyword_parent="AI", now=NOW)
    records = {r.name: r for r in read_sidecar(change.path).provenance.keywords}
    assert (records["Cat"].hierarchical_path, records["Cat"].tags_list_path) == (
        "AI|Animal|Cat", "AI/Animal/Cat")
    assert records["Dog"].fields == ("subject", "hierarchicalSubject", "TagsList")
    (data,) = exiftool_json([change.path])
    keywords = data["XMP-xmpvision:Keywords"]
    assert isinstance(keywords, list)
    assert {(k["Name"], k["HierarchicalPath"], k["TagsListPath"]) for k in keywords} == {
        ("Dog", "AI|Dog", "AI/Dog"), ("Cat", "AI|Animal|Cat", "AI/Animal/Cat")}


def test_reset_removes_our_branch_and_keeps_the_users(photo: Path) -> None:
    sidecar = _with_user_tags(photo)
    update_sidecar(photo, labels("Dog", cat()), keyword_parent="AI", now=NOW)
    change = reset_sidecar(photo, {"labels"}, "ollama", now=NOW)
    assert change.keywords_removed == ("Dog", "Cat")
    for reader in READERS.values():
        assert reader(sidecar) == (["Holiday", "Anna"], ["AI|Holiday", "People|Anna"],
                                   ["AI/Holiday", "People/Anna"])


def test_user_keyword_under_the_parent_blocks_ours(photo: Path) -> None:
    _with_user_tags(photo)
    change = update_sidecar(photo, labels("holiday", "Dog"), keyword_parent="AI", now=NOW)
    assert change.keywords_added == ("Dog",)
    assert read_sidecar(change.path).hierarchical.count("AI|Holiday") == 1


def test_deleting_our_path_rejects_the_keyword(photo: Path) -> None:
    sidecar = update_sidecar(photo, labels("Dog", "Ball"), keyword_parent="AI", now=NOW).path
    _edit(sidecar, "<rdf:li>AI|Dog</rdf:li>", "")  # removed in Lightroom's keyword list only
    change = update_sidecar(photo, labels("Dog", "Ball", "Grass"), keyword_parent="AI",
                            force=True, now=NOW)
    assert any("'Dog' was removed by the user" in note for note in change.notes)
    state = read_sidecar(sidecar)
    assert state.provenance.rejected == ["Dog"]
    assert "AI|Dog" not in state.hierarchical
    assert [r.name for r in state.provenance.keywords] == ["Ball", "Grass"]
    assert "Dog" not in update_sidecar(photo, labels("dog"), keyword_parent="Pets",
                                       now=NOW).keywords_added


def test_deleting_from_dc_subject_rejects_and_takes_our_path_out(photo: Path) -> None:
    sidecar = update_sidecar(photo, labels("Dog", "Ball"), keyword_parent="AI", now=NOW).path
    _edit(sidecar, "<rdf:li>Dog</rdf:li>", "")
    change = update_sidecar(photo, labels("Dog", "Ball", "Grass"), keyword_parent="AI", now=NOW)
    assert change.keywords_added == ("Grass",)
    state = read_sidecar(sidecar)
    assert state.provenance.rejected == ["Dog"]
    # A removal from one keyword list is a removal from all of them.
    assert state.hierarchical == ("AI|Ball", "AI|Grass")


def test_changing_the_parent_moves_ours_only(photo: Path) -> None:
    sidecar = _with_user_tags(photo)
    update_sidecar(photo, labels("Dog", cat()), keyword_parent="AI", now=NOW)
    change = update_sidecar(photo, labels("Dog", cat()), keyword_parent="Vision", now=NOW)
    assert change.changed and change.keywords_added == () and change.keywords_removed == ()
    for reader in READERS.values():
        assert reader(sidecar) == (
            ["Holiday", "Anna", "Dog", "Cat"],
            ["AI|Holiday", "People|Anna", "Vision|Dog", "Vision|Animal|Cat"],
            ["AI/Holiday", "People/Anna", "Vision/Dog", "Vision/Animal/Cat"],
        )
    assert update_sidecar(photo, labels("Dog", cat()), keyword_parent="Vision",
                          now=NOW).status == "unchanged"
    # Back to no parent: flat again, and a reset still finds every one of ours.
    update_sidecar(photo, labels("Dog", cat()), now=NOW)
    assert read_sidecar(sidecar).hierarchical == ("AI|Holiday", "People|Anna", "Dog",
                                                  "Animal|Cat")
    reset_sidecar(photo, {"labels"}, "ollama", now=NOW)
    assert read_sidecar(sidecar).hierarchical == ("AI|Holiday", "People|Anna")


def test_keyword_written_before_paths_were_recorded_moves(photo: Path) -> None:
    sidecar = update_sidecar(photo, labels("Dog"), now=NOW).path
    _edit(sidecar, "<xmpvision:hierarchicalPath>Dog</xmpvision:hierarchicalPath>", "")
    assert read_sidecar(sidecar).provenance.keywords[0].hierarchical_path == "Dog"
    assert update_sidecar(photo, labels("Dog"), now=NOW).status == "unchanged"
    update_sidecar(photo, labels("Dog"), keyword_parent="AI", now=NOW)
    assert read_sidecar(sidecar).hierarchical == ("AI|Dog",)


def test_higher_source_keyword_stays_where_it_is(photo: Path) -> None:
    sidecar = update_sidecar(photo, PhotoResult(labels=[label("Portrait", source="manual")]),
                             keyword_parent="Mine", now=NOW).path
    update_sidecar(photo, labels("Portrait", "Dog"), keyword_parent="AI", now=NOW)
    assert read_sidecar(sidecar).hierarchical == ("Mine|Portrait", "AI|Dog")


def test_raw_and_jpeg_share_paths(tmp_path: Path) -> None:
    raw, jpeg = tmp_path / "IMG_3.CR2", tmp_path / "IMG_3.JPG"
    for path in (raw, jpeg):
        path.write_bytes(b"\xff\xd8\xff\xd9")
    update_sidecar(raw, labels("Dog", cat()), naming="base", keyword_parent="AI", now=NOW)
    update_sidecar(jpeg, labels("Dog"), keyword_parent="AI", now=NOW)
    sidecar = tmp_path / "IMG_3.xmp"
    assert read_sidecar(sidecar).hierarchical == ("AI|Dog", "AI|Animal|Cat")
    reset_sidecar(raw, {"labels"}, "ollama", now=NOW)  # the JPEG's Dog stays
    assert read_sidecar(sidecar).hierarchical == ("AI|Dog",)
    reset_sidecar(jpeg, {"labels"}, "ollama", now=NOW)
    assert read_sidecar(sidecar).hierarchical == ()


@pytest.mark.parametrize(("parent", "categories", "path"), [
    (" AI ", (), "AI|Dog"),
    ("AI/Vision", (), "AI|Vision|Dog"),
    ("", ("Animal", "Pet"), "Animal|Pet|Dog"),
    (None, ("animal", "Animal", "Dog", "a|b"), "animal|a-b|Dog"),
    ("|", (" ",), "Dog"),
])
def test_path_parts_are_cleaned(photo: Path, parent: str | None, categories: tuple[str, ...],
                                path: str) -> None:
    dog = Label(name="Dog", confidence=0.9, source="ollama", model="m", engine="ollama",
                categories=categories)
    change = update_sidecar(photo, PhotoResult(labels=[dog]), keyword_parent=parent, now=NOW)
    assert change.keywords == ("Dog",)
    assert read_sidecar(change.path).hierarchical == (path,)


def test_vocabulary_terms_go_where_the_owner_keeps_them(photo: Path) -> None:
    from xmpvision.text.vocabulary import Vocabulary

    vocabulary = Vocabulary({"Animals|Dogs": 4, "Places|Beach": 2})
    policies = {"allow": ("Dogs", "Beach", "Kite"), "review": ("Dogs", "Beach", "Kite"),
                "deny": ("Dogs", "Beach")}
    trees = {"allow": ("Animals|Dogs", "Places|Beach", "AI|Kite"),
             "review": ("Animals|Dogs", "Places|Beach", "AI|new|Kite"),
             "deny": ("Animals|Dogs", "Places|Beach")}
    for new, names in policies.items():
        change = update_sidecar(photo, labels("DOGS", "beaches", "Kite"), keyword_parent="AI",
                                vocabulary=vocabulary, new_keywords=new,  # type: ignore[arg-type]
                                force=True, now=NOW)
        state = read_sidecar(change.path)
        assert state.subjects == names and state.hierarchical == trees[new]
        change.path.unlink()


def test_a_person_of_the_vocabulary_is_never_written(photo: Path) -> None:
    from xmpvision.text.vocabulary import Vocabulary

    vocabulary = Vocabulary({"People|Anna": 9, "Animals|Dogs": 1})
    change = update_sidecar(photo, labels("anna", "dog"), vocabulary=vocabulary, now=NOW)
    assert change.keywords == ("Dogs",)
    assert any("names a person" in note for note in change.notes)
