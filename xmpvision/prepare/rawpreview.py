"""The embedded JPEG preview of a camera RAW file, which is what vision models are shown.

Every common RAW format (CR2, CR3, NEF, ARW, RAF, ORF, RW2, DNG, PEF) carries a camera-rendered
JPEG preview, usually full-size. Decoding the sensor data would need LibRaw and seconds per
file; the preview is what the camera showed and what exiftool's -PreviewImage extracts.

Rather than parse five container formats, the file is scanned for baseline/progressive JPEG
streams (SOI followed by a valid marker chain up to a SOF0/1/2 frame header) and the largest
one is taken. Lossless JPEG (SOF3), which CR2 and DNG use for the sensor data, is skipped:
Pillow cannot decode it and it is not a picture anyway.
"""

from __future__ import annotations

import mmap
import re
import struct
from pathlib import Path

_SOI = re.compile(rb"\xff\xd8\xff[\xc0-\xfe]")
_PICTURE_FRAMES = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive
_OTHER_FRAMES = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_ORIENTATION_TAG = 0x0112
_MIN_AREA = 160 * 120  # smaller streams are thumbnails, not previews


class NoPreview(Exception):
    """The file holds no decodable embedded JPEG."""


def _frame(data: mmap.mmap | bytes, start: int) -> tuple[int, int, int] | None:
    """(width, height, end offset) of the JPEG stream at `start`, or None if it is not one."""
    pos = start + 2
    size = len(data)
    width = height = 0
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if length < 2:
            return None
        if marker in _OTHER_FRAMES:
            return None
        if marker in _PICTURE_FRAMES and pos + 9 <= size:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the EOI marker
            end = data.find(b"\xff\xd9", pos + 2 + length)
            if end < 0 or not width or not height:
                return None
            return width, height, end + 2
        pos += 2 + length
    return None


def _tiff_orientation(data: mmap.mmap | bytes) -> int | None:
    """The Orientation tag of IFD0 for TIFF-based RAW files (CR2, NEF, ARW, DNG, ORF, RW2)."""
    head = bytes(data[:8])
    if head[:2] == b"II":
        order = "<"
    elif head[:2] == b"MM":
        order = ">"
    else:
        return None
    (offset,) = struct.unpack(order + "I", head[4:8])
    if offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    for index in range(min(count, 512)):
        entry = offset + 2 + 12 * index
        if entry + 12 > len(data):
            return None
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag == _ORIENTATION_TAG and kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", data[entry + 8 : entry + 10])
            return value if 1 <= value <= 8 else None
    return None


def extract_preview(path: Path) -> tuple[bytes, int | None]:
    """The largest embedded JPEG preview and the RAW's own EXIF orientation, if it has one.

    Raises NoPreview when there is none, OSError when the file cannot be read.
    """
    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            raise NoPreview("empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            best: tuple[int, int, int] | None = None  # area, start, end
            for match in _SOI.finditer(data):
                found = _frame(data, match.start())
                if found is None:
                    continue
                width, height, end = found
                area = width * height
                if area >= _MIN_AREA and (best is None or area > best[0]):
                    best = (area, match.start(), end)
            if best is None:
                raise NoPreview("no embedded JPEG preview found")
            return bytes(data[best[1] : best[2]]), _tiff_orientation(data)
