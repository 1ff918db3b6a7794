"""Ownership rules: user values survive regenerate, --force and reset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sidecar.sidecar_helpers import NOW, exiftool_warnings, label, result
from xmpvision.results import PhotoResult
from xmpvision.sidecar import read_sidecar, reset_sidecar, update_sidecar

USER_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:subject><rdf:Bag><rdf:li>Grandma</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_1.jpg"
    path.write_bytes(b"\xff\xd8\xff\xd9")
    return path


def _edit(sidecar: Path, old: str, new: str) -> None:
    """What a user's photo manager does: change the file's text."""
    data = sidecar.read_text(encoding="utf-8")
    assert old in data
    sidecar.write_text(data.replace(old, new), encoding="utf-8")


def test_user_keyword_kept_and_not_duplicated(photo: Path) -> None:
    photo.with_name("IMG_1.jpg.xmp").write_text(USER_SIDECAR, encoding="utf-8")
    change = update_sidecar(photo, result(["grandma", "cake"]), now=NOW)
    assert change.keywords == ("Grandma", "cake")
    assert change.keywords_added == ("cake",)
    change = update_sidecar(photo, result([]), now=NOW)  # regenerate to nothing
    assert change.keywords == ("Grandma",)
    assert change.keywords_removed == ("cake",)
    assert reset_sidecar(photo, {"labels"}, "ollama").keywords == ("Grandma",)


def test_regenerate_replaces_only_our_keywords(photo: Path) -> None:
    update_sidecar(photo, result(["dog", "ball"]), now=NOW)
    change = update_sidecar(photo, result(["dog", "grass"]), now=NOW)
    assert change.keywords == ("dog", "grass")
    assert change.keywords_removed == ("ball",)
    state = read_sidecar(change.path)
    assert state.hierarchical == ("dog", "grass")
    assert [k.name for k in state.provenance.keywords] == ["dog", "grass"]


def test_user_removed_keyword_not_readded(photo: Path) -> None:
    sidecar = update_sidecar(photo, result(["dog", "ball"]), now=NOW).path
    _edit(sidecar, "<rdf:li>ball</rdf:li>", "")  # removed from dc:subject (and hierarchical)
    change = update_sidecar(photo, result(["dog", "ball", "grass"]), force=True, now=NOW)
    assert change.keywords == ("dog", "grass")
    state = read_sidecar(sidecar)
    assert state.provenance.rejected == ["ball"]
    assert "ball" not in state.hierarchical
    # A case variant from another model is the same keyword.
    assert "Ball" not in update_sidecar(photo, result(["Ball"]), now=NOW).keywords


def test_user_added_keyword_in_hierarchy_blocks_duplicate(photo: Path) -> None:
    sidecar = update_sidecar(photo, result(["dog"]), now=NOW).path
    _edit(sidecar, "<rdf:li>dog</rdf:li>\n    </rdf:Bag>\n   </lr:hierarchicalSubject>",
          "<rdf:li>dog</rdf:li><rdf:li>Animals|Cat</rdf:li></rdf:Bag></lr:hierarchicalSubject>")
    change = update_sidecar(photo, result(["dog", "cat"]), now=NOW)
    assert change.keywords == ("dog",)
    assert "Animals|Cat" in read_sidecar(sidecar).hierarchical


def test_higher_priority_keywords_survive_lower_regenerate(photo: Path) -> None:
    update_sidecar(photo, result(["portrait"], source="manual"), now=NOW)
    change = update_sidecar(photo, result(["dog"]), now=NOW)  # ollama < manual
    assert change.keywords == ("portrait", "dog")
    change = update_sidecar(photo, result([]), now=NOW)
    assert change.keywords == ("portrait",)
    assert update_sidecar(photo, result([]), force=True, now=NOW).keywords == ()


def test_image_fallback_keywords_replaced_by_ollama(photo: Path) -> None:
    update_sidecar(photo, result(["tabby"], source="image"), now=NOW)
    assert update_sidecar(photo, result(["cat"]), now=NOW).keywords == ("cat",)


def test_empty_labels_use_answering_engine_as_source(photo: Path) -> None:
    update_sidecar(photo, result(["cat"]), now=NOW)
    empty_from_tf = PhotoResult(labels=[], models={"labels": "tensorflow:nasnet"},
                                sources={"labels": "image"})
    assert update_sidecar(photo, empty_from_tf, now=NOW).keywords == ("cat",)
    assert update_sidecar(photo, PhotoResult(labels=[]), now=NOW).keywords == ()


def test_user_edited_caption_kept_under_regenerate_and_force(photo: Path) -> None:
    sidecar = update_sidecar(photo, result(text="A dog on grass."), now=NOW).path
    _edit(sidecar, ">A dog on grass.<", ">Rex, our dog, in 2019.<")
    for force in (False, True):
        change = update_sidecar(photo, result(text="A brown dog."), force=force, now=NOW)
        assert change.caption == "Rex, our dog, in 2019."
        assert change.caption_source == "xmp"
        assert not change.changed
    # image (8) and ollama (16) are below xmp (32): kept even with --force
    change = update_sidecar(photo, result(text="Dog.", source="image"), force=True, now=NOW)
    assert change.caption == "Rex, our dog, in 2019."
    # reset does not take a caption that has become the user's
    assert reset_sidecar(photo, {"caption"}, "ollama").caption == "Rex, our dog, in 2019."


def test_our_caption_replaced_only_with_force(photo: Path) -> None:
    update_sidecar(photo, result(text="A dog."), now=NOW)
    assert update_sidecar(photo, result(text="A cat."), now=NOW).caption == "A dog."
    change = update_sidecar(photo, result(text="A cat."), force=True, now=NOW)
    assert (change.caption, change.caption_removed) == ("A cat.", "A dog.")
    # a lower source cannot replace it, even with force
    assert update_sidecar(photo, result(text="Cat", source="image"), force=True,
                          now=NOW).caption == "A cat."


def test_higher_source_with_force_replaces_user_caption_and_reset_restores(
    photo: Path,
) -> None:
    photo.with_name("IMG_1.jpg.xmp").write_text(USER_SIDECAR.replace(
        "</dc:subject>", "</dc:subject><dc:description><rdf:Alt><rdf:li xml:lang='x-default'>"
        "Mine</rdf:li><rdf:li xml:lang='fr'>La mienne</rdf:li></rdf:Alt></dc:description>"),
        encoding="utf-8")
    assert update_sidecar(photo, result(text="Theirs", source="manual"),
                          now=NOW).caption == "Mine"  # no --force
    change = update_sidecar(photo, result(text="Theirs", source="manual", language="fr"),
                            force=True, now=NOW)
    assert (change.caption, change.caption_removed) == ("Theirs", "Mine")
    change = reset_sidecar(photo, {"caption"}, "manual")
    assert change.caption == "Mine"
    state = read_sidecar(change.path)
    assert dict(state.description) == {"x-default": "Mine", "fr": "La mienne"}
    assert state.caption_writer is None and state.provenance.caption is None


def test_reset_removes_only_the_given_source(photo: Path) -> None:
    update_sidecar(photo, result(["tabby"], source="image"), now=NOW)
    update_sidecar(photo, PhotoResult(labels=[label("cat"), label("tabby", source="image")]),
                   now=NOW)
    update_sidecar(photo, result(text="A cat."), now=NOW)
    change = reset_sidecar(photo, {"labels"}, "ollama", dry_run=True)
    assert change.keywords_removed == ("cat",) and change.dry_run
    assert read_sidecar(change.path).subjects == ("tabby", "cat")  # dry run wrote nothing
    change = reset_sidecar(photo, {"labels", "caption"}, "ollama")
    assert change.keywords == ("tabby",) and change.caption is None
    assert exiftool_warnings(change.path) == set()


def test_raw_and_jpeg_share_base_sidecar(tmp_path: Path) -> None:
    raw, jpeg = tmp_path / "IMG_2.CR2", tmp_path / "IMG_2.JPG"
    for path in (raw, jpeg):
        path.write_bytes(b"\xff\xd8\xff\xd9")
    first = update_sidecar(raw, result(["dog", "ball"]), naming="base", now=NOW)
    assert first.path == tmp_path / "IMG_2.xmp"
    second = update_sidecar(jpeg, result(["dog", "leash"]), now=NOW)  # finds IMG_2.xmp
    assert second.path == first.path
    assert second.keywords == ("dog", "ball", "leash")
    # Regenerating the JPEG to nothing keeps what the RAW's run wrote, "dog" included.
    assert update_sidecar(jpeg, result([]), now=NOW).keywords == ("dog", "ball")
    assert reset_sidecar(raw, {"labels"}, "ollama").keywords == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_2.CR2", "IMG_2.JPG", "IMG_2.xmp"]


def test_dry_run_reports_without_writing(photo: Path) -> None:
    change = update_sidecar(photo, result(["dog"], "A dog."), dry_run=True, now=NOW)
    assert change.changed and change.keywords == ("dog",) and change.caption == "A dog."
    assert not change.path.exists()


def test_unchanged_result_does_not_rewrite(photo: Path) -> None:
    sidecar = update_sidecar(photo, result(["dog"], "A dog."), now=NOW).path
    before = sidecar.read_bytes()
    change = update_sidecar(photo, result(["dog"], "A dog."), now=NOW)
    assert change.status == "unchanged"
    assert sidecar.read_bytes() == before
