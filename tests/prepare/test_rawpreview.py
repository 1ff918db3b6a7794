"""RAW previews: the largest embedded baseline JPEG, with the RAW's own orientation."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest
from PIL import Image

from xmpvision.errors import ImageError
from xmpvision.prepare.images import PhotoImage
from xmpvision.prepare.rawpreview import NoPreview, extract_preview


def _jpeg(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _lossless_sof3(width: int, height: int) -> bytes:
    """The start of a lossless JPEG (SOF3) as CR2/DNG store sensor data: must be skipped."""
    sof3 = b"\xff\xc3" + struct.pack(">HBHHB", 11, 14, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + sof3 + sos + os.urandom(4096) + b"\xff\xd9"


def _tiff_raw(orientation: int, preview: bytes, thumbnail: bytes) -> bytes:
    """A TIFF-structured RAW (NEF/CR2/ARW/DNG style): IFD0 with Orientation, then blobs."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd += struct.pack("<I", 0)
    header = b"II*\x00" + struct.pack("<I", 8)
    return (header + ifd + os.urandom(2048) + thumbnail + _lossless_sof3(6000, 4000)
            + os.urandom(1024) + preview + os.urandom(512))


@pytest.mark.parametrize("suffix", [".NEF", ".cr2", ".ARW", ".dng", ".orf", ".rw2"])
def test_tiff_based_raw_gives_largest_preview_and_orientation(tmp_path: Path,
                                                              suffix: str) -> None:
    path = tmp_path / f"DSC_0001{suffix}"
    preview = _jpeg((1200, 800), (200, 30, 30))
    path.write_bytes(_tiff_raw(6, preview, _jpeg((160, 120), (0, 0, 255))))
    data, orientation = extract_preview(path)
    assert data == preview and orientation == 6
    with PhotoImage(path) as photo:
        assert photo.size == (800, 1200)  # rotated by the RAW's orientation
        decoded = Image.open(io.BytesIO(photo.jpeg(600)))
        assert decoded.size == (400, 600)
        red, green, blue = decoded.convert("RGB").getpixel((200, 300))  # type: ignore[misc]
        assert red > 150 and green < 80 and blue < 80


def test_raf_and_cr3_containers(tmp_path: Path) -> None:
    preview = _jpeg((960, 640), (20, 200, 20))
    raf = tmp_path / "DSCF0001.RAF"
    raf.write_bytes(b"FUJIFILMCCD-RAW 0201FF383501" + b"\x00" * 64 + preview + os.urandom(900))
    cr3 = tmp_path / "IMG_0001.CR3"
    cr3.write_bytes(struct.pack(">I4s4sI", 24, b"ftyp", b"crx ", 1) + b"\x00" * 8
                    + struct.pack(">I4s", 8 + len(preview), b"PRVW") + preview)
    for path in (raf, cr3):
        data, orientation = extract_preview(path)
        assert data == preview and orientation is None
        with PhotoImage(path) as photo:
            assert photo.size == (960, 640)


def test_raw_without_preview_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.nef"
    path.write_bytes(b"II*\x00" + os.urandom(10000))
    with pytest.raises(NoPreview):
        extract_preview(path)
    with pytest.raises(ImageError, match=r"broken\.nef: camera RAW file without a usable preview"):
        PhotoImage(path).jpeg(720)


def test_truncated_preview_is_not_taken(tmp_path: Path) -> None:
    preview = _jpeg((1200, 800), (1, 2, 3))
    path = tmp_path / "cut.arw"
    path.write_bytes(b"MM\x00*" + struct.pack(">I", 8) + b"\x00\x00" + preview[: len(preview) // 2])
    with pytest.raises(NoPreview):
        extract_preview(path)
