"""Sidecar location: update the one that exists, else create the configured form."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmpvision.sidecar import find_sidecar


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_1.CR2"
    path.write_bytes(b"raw")
    return path


def test_new_sidecar_name_follows_naming(photo: Path) -> None:
    assert find_sidecar(photo) == photo.with_name("IMG_1.CR2.xmp")
    assert find_sidecar(photo, "base") == photo.with_name("IMG_1.xmp")


@pytest.mark.parametrize("name", ["IMG_1.CR2.xmp", "IMG_1.CR2.XMP", "IMG_1.CR2.Xmp",
                                  "IMG_1.xmp", "IMG_1.XMP", "IMG_1.xMp"])
@pytest.mark.parametrize("naming", ["full", "base"])
def test_existing_sidecar_in_any_case_is_used(photo: Path, name: str, naming: str) -> None:
    (photo.parent / name).write_text("x")
    assert find_sidecar(photo, naming).name == name  # type: ignore[arg-type]


def test_both_forms_exist_naming_picks_preferred(photo: Path) -> None:
    (photo.parent / "IMG_1.CR2.xmp").write_text("x")
    (photo.parent / "IMG_1.xmp").write_text("x")
    assert find_sidecar(photo).name == "IMG_1.CR2.xmp"
    assert find_sidecar(photo, "base").name == "IMG_1.xmp"


def test_other_photos_sidecars_are_not_taken(photo: Path) -> None:
    (photo.parent / "IMG_10.xmp").write_text("x")
    (photo.parent / "IMG_1.CR2.xmp.bak").write_text("x")
    assert find_sidecar(photo) == photo.with_name("IMG_1.CR2.xmp")


def test_dangling_symlink_counts_as_existing(photo: Path) -> None:
    link = photo.parent / "IMG_1.xmp"
    link.symlink_to(photo.parent / "missing.xmp")
    assert find_sidecar(photo) == link
