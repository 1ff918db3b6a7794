"""A new sidecar carries the owner's embedded keywords, caption and title (theirs, never ours),
so readers that prefer the sidecar still show them; and a keyword of ours removed from any
keyword list is removed from all of them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.sidecar.sidecar_helpers import (
    NOW,
    exempi_seen,
    exiftool_seen,
    exiv2_seen,
    exiv2_xmp,
    label,
    require,
    result,
)
from xmpvision.results import PhotoResult
from xmpvision.sidecar import read_sidecar, reset_sidecar, update_sidecar


def _photo(path: Path, *args: str) -> Path:
    Image.new("RGB", (8, 8), "red").save(path, "JPEG")
    require("exiftool")
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(path)], check=True)
    return path


def immich_tags(photo: Path, sidecar: Path) -> list[str]:
    """The tags Immich reads: the photo's tags with the sidecar's over them, then the first
    non-empty of TagsList, HierarchicalSubject, Keywords."""
    require("exiftool")
    out = subprocess.run(["exiftool", "-j", "-TagsList", "-HierarchicalSubject", "-Keywords",
                          str(photo), str(sidecar)], capture_output=True, check=True)
    embedded, side = json.loads(out.stdout)
    tags = {**embedded, **side}
    for key in ("TagsList", "HierarchicalSubject", "Keywords"):
        value = tags.get(key)
        if value:
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return []


@pytest.fixture
def iptc_photo(tmp_path: Path) -> Path:
    # Lightroom, Photo Mechanic and cameras' apps write IPTC: no sidecar, nothing in XMP.
    return _photo(tmp_path / "IMG_1.jpg", "-IPTC:Keywords=Holiday", "-IPTC:Keywords=Tree",
                  "-IPTC:Caption-Abstract=Our first day", "-IPTC:ObjectName=Nice")


def test_new_sidecar_shows_the_owners_iptc_keywords_and_ours(iptc_photo: Path) -> None:
    nothing = update_sidecar(iptc_photo, result(["tree"]), now=NOW)
    assert not nothing.changed and not nothing.path.exists()  # none made only to copy
    change = update_sidecar(iptc_photo, result(["tree", "Dog"]), now=NOW)
    assert change.created and change.keywords_added == ("Dog",)
    assert immich_tags(iptc_photo, change.path) == ["Holiday", "Tree", "Dog"]
    for seen in (exiftool_seen(change.path), exiv2_seen(change.path), exempi_seen(change.path)):
        assert seen.subjects == ["Holiday", "Tree", "Dog"]
        assert seen.hierarchical == ["Holiday", "Tree", "Dog"]
        assert seen.caption == "Our first day"
    assert exiv2_xmp(change.path)["Xmp.dc.title"] == {'lang="x-default"': "Nice"}


def test_copied_values_are_the_owners(iptc_photo: Path) -> None:
    change = update_sidecar(iptc_photo, result(["Dog"], text="A dog on a beach."), now=NOW)
    state = read_sidecar(change.path)
    assert [r.name for r in state.provenance.keywords] == ["Dog"]
    assert state.provenance.texts == {}
    assert state.caption == "Our first day" and change.caption_source == "xmp"
    reset_sidecar(iptc_photo, {"labels", "caption", "title"}, "ollama", now=NOW)
    state = read_sidecar(change.path)
    assert state.subjects == ("Holiday", "Tree") and state.hierarchical == ("Holiday", "Tree")
    assert (state.caption, state.title) == ("Our first day", "Nice")
    # Copied once: what the owner takes out of the sidecar stays out.
    change.path.write_text(change.path.read_text(encoding="utf-8").replace(
        "<rdf:li>Holiday</rdf:li>", ""), encoding="utf-8")
    update_sidecar(iptc_photo, result(["Dog", "Ball"]), now=NOW)
    assert read_sidecar(change.path).subjects == ("Tree", "Dog", "Ball")


def test_digikam_tags_and_lightroom_paths_go_into_every_list(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "IMG_2.jpg", "-XMP-digiKam:TagsList=Places/France/Nice",
                   "-XMP-lr:HierarchicalSubject=People|Anna", "-XMP-dc:Subject=People",
                   "-XMP-dc:Subject=Anna", "-XMP-dc:Subject=Sunset")
    change = update_sidecar(photo, PhotoResult(labels=[label("Dog")]), keyword_parent="AI",
                            now=NOW)
    state = read_sidecar(change.path)
    assert state.subjects == ("People", "Anna", "Sunset", "Nice", "Dog")
    assert state.hierarchical == ("People|Anna", "Places|France|Nice", "Sunset", "AI|Dog")
    assert state.tags_list == ("People/Anna", "Places/France/Nice", "Sunset", "AI/Dog")
    assert immich_tags(photo, change.path) == list(state.tags_list)


def test_owner_text_xml_cannot_hold_loses_only_that(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "IMG_3.jpg", "-charset", "iptc=UTF8", "-IPTC:CodedCharacterSet=UTF8",
                   "-IPTC:Keywords=Sea\x1bside\u202e", "-IPTC:Keywords= ")
    change = update_sidecar(photo, result(["Dog"]), now=NOW)
    assert read_sidecar(change.path).subjects == ("Seaside\u202e", "Dog")


# ---- a removal from one keyword list is a removal from all of them --------------------------


DIGIKAM_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:digiKam="http://www.digikam.org/ns/1.0/">
   <dc:subject><rdf:Bag><rdf:li>Holiday</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>Holiday</rdf:li></rdf:Bag></lr:hierarchicalSubject>
   <digiKam:TagsList><rdf:Seq><rdf:li>Holiday</rdf:li></rdf:Seq></digiKam:TagsList>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _ours(photo: Path) -> Path:
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_text(DIGIKAM_SIDECAR, encoding="utf-8")
    update_sidecar(photo, result(["Dog", "Ball"]), keyword_parent="AI", now=NOW)
    return sidecar


def _drop(sidecar: Path, item: str) -> None:
    text = sidecar.read_text(encoding="utf-8")
    assert f"<rdf:li>{item}</rdf:li>" in text
    sidecar.write_text(text.replace(f"<rdf:li>{item}</rdf:li>", ""), encoding="utf-8")


@pytest.mark.parametrize("item", ["Dog", "AI|Dog", "AI/Dog"])
def test_removed_from_one_list_leaves_all(tmp_path: Path, item: str) -> None:
    photo = tmp_path / "IMG_4.jpg"
    sidecar = _ours(photo)
    assert read_sidecar(sidecar).tags_list == ("Holiday", "AI/Dog", "AI/Ball")
    _drop(sidecar, item)
    change = update_sidecar(photo, result(["Dog", "Ball"]), keyword_parent="AI", now=NOW)
    state = read_sidecar(sidecar)
    assert change.changed
    assert (state.subjects, state.hierarchical, state.tags_list) == (
        ("Holiday", "Ball"), ("Holiday", "AI|Ball"), ("Holiday", "AI/Ball"))
    assert state.provenance.rejected == ["Dog"]
    for seen in (exiftool_seen(sidecar), exiv2_seen(sidecar), exempi_seen(sidecar)):
        assert (seen.subjects, seen.hierarchical) == (["Holiday", "Ball"], ["Holiday", "AI|Ball"])


def test_reset_after_a_removal_leaves_nothing_of_it(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_5.jpg"
    sidecar = _ours(photo)
    _drop(sidecar, "Dog")
    change = reset_sidecar(photo, {"labels"}, "ollama", now=NOW)
    state = read_sidecar(sidecar)
    assert change.changed and change.keywords_removed == ("Ball",)
    assert (state.subjects, state.hierarchical, state.tags_list) == (
        ("Holiday",), ("Holiday",), ("Holiday",))
    assert state.provenance.rejected == ["Dog"]


@pytest.mark.parametrize("written", ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "DCIM\\100MEDIA"])
def test_what_a_camera_wrote_by_itself_is_not_the_owners_caption(tmp_path: Path,
                                                                 written: str) -> None:
    # Cameras put such texts in the description; Lightroom copies them into dc:description.
    photo = _photo(tmp_path / "P1.jpg", f"-XMP-dc:Description={written}",
                   f"-IPTC:Caption-Abstract={written}", f"-EXIF:ImageDescription={written}")
    change = update_sidecar(photo, result(["Dog"], text="A dog on a beach."), now=NOW)
    assert change.caption_source == "ollama"
    assert read_sidecar(change.path).caption == "A dog on a beach."
    assert exiftool_seen(change.path).caption == "A dog on a beach."
