"""Keywords embedded in the photo are read, not duplicated in the sidecar, never written."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image

from tests.sidecar.sidecar_helpers import NOW, require, result
from xmpvision.sidecar import update_sidecar
from xmpvision.sidecar.embedded import embedded_keywords


def _jpeg_with_keywords(path: Path, *keywords: str) -> None:
    Image.new("RGB", (8, 8), "red").save(path, "JPEG")
    args = [f"-XMP-dc:Subject={k}" for k in keywords]
    require("exiftool")
    subprocess.run(["exiftool", "-q", "-overwrite_original",
                    "-XMP-lr:HierarchicalSubject=Nature|Trees|Oak", *args, str(path)],
                   check=True)


def test_embedded_keywords_found(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    _jpeg_with_keywords(photo, "Tree", "Sky")
    assert embedded_keywords(photo) == {"tree", "sky", "oak"}


def test_embedded_keywords_not_duplicated_and_photo_untouched(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    _jpeg_with_keywords(photo, "Tree")
    before = photo.read_bytes()
    change = update_sidecar(photo, result(["tree", "oak", "cloud"]), now=NOW)
    # The new sidecar starts with the owner's keywords; ours add only what is new.
    assert change.keywords == ("Tree", "Oak", "cloud") and change.keywords_added == ("cloud",)
    assert photo.read_bytes() == before


def test_photo_without_xmp_or_unreadable(tmp_path: Path) -> None:
    photo = tmp_path / "b.jpg"
    Image.new("RGB", (8, 8)).save(photo, "JPEG")
    assert embedded_keywords(photo) == set()
    assert embedded_keywords(tmp_path / "missing.jpg") == set()
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert embedded_keywords(tmp_path / "empty.jpg") == set()


def test_keywords_the_owner_keeps_in_iptc_count_as_theirs(tmp_path: Path) -> None:
    # Lightroom, Photo Mechanic and many cameras' apps write IPTC Keywords, not XMP.
    photo = tmp_path / "iptc.jpg"
    Image.new("RGB", (8, 8), "red").save(photo, "JPEG")
    require("exiftool")
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-IPTC:Keywords=Holiday",
                    "-IPTC:Keywords=Tree", str(photo)], check=True)
    assert {"holiday", "tree"} <= embedded_keywords(photo)
    change = update_sidecar(photo, result(["tree", "cloud"]), now=NOW)
    assert change.keywords == ("Holiday", "Tree", "cloud") and change.keywords_added == ("cloud",)
