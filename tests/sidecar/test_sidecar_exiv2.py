"""exiv2 (through pyexiv2) as a third independent reader: digiKam and darktable read XMP with
exiv2, so what it sees is what they see."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sidecar.sidecar_helpers import FIXTURES, NOW, exiv2_xmp, result
from xmpvision.sidecar import update_sidecar


@pytest.mark.parametrize("fixture", [None, "darktable.CR2.xmp", "digikam.jpg.xmp",
                                     "lightroom.xmp", "exiftool.jpg.xmp"])
def test_exiv2_reads_keywords_and_caption(tmp_path: Path, fixture: str | None) -> None:
    photo = tmp_path / "IMG_0001.CR2"
    photo.write_bytes(b"raw")
    user_caption = None
    if fixture is not None:
        sidecar = tmp_path / "IMG_0001.CR2.xmp"
        sidecar.write_bytes((FIXTURES / fixture).read_bytes())
        found = exiv2_xmp(sidecar).get("Xmp.dc.description")
        user_caption = found.get('lang="x-default"') if isinstance(found, dict) else None
    change = update_sidecar(photo, result(["Ferris Wheel", "Bus"], "A bus passes a wheel."),
                            now=NOW)
    xmp = exiv2_xmp(change.path)
    subjects = xmp["Xmp.dc.subject"]
    assert isinstance(subjects, list) and {"Ferris Wheel", "Bus"} <= set(subjects)
    hierarchical = xmp["Xmp.lr.hierarchicalSubject"]
    assert isinstance(hierarchical, list) and {"Ferris Wheel", "Bus"} <= set(hierarchical)
    description = xmp["Xmp.dc.description"]
    assert isinstance(description, dict)
    # The user's caption (if the fixture has one) wins over ours; either way exiv2 reads it.
    assert description['lang="x-default"'] == (user_caption or "A bus passes a wheel.")
