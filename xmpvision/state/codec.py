"""How paths and file identities are stored in the state database.

A folder path or file name is TEXT, or, if it is not valid UTF-8, BLOB of its `os.fsencode`
bytes, so that every name round-trips and still opens.
"""

from __future__ import annotations

import hashlib
import os
import sys

FINGERPRINT_CHUNK = 64 * 1024

_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


def fingerprint(path: str, size: int) -> bytes:
    """BLAKE2b-128 of the size, the first 64 KiB and the last 64 KiB of a file.

    Used only to recognise a moved file: a new path is matched against recorded files of the
    same size whose old path is gone. Two different photos of the same byte size that also share
    their first 64 KiB (EXIF with capture time, camera serial and shot counter, the embedded
    thumbnail) and their last 64 KiB (the end of the compressed image data) do not occur in
    practice; and any edit changes mtime, which is caught by the cheap size/mtime check, not
    by this. At most 128 KiB is read (two preads) however large the file, which keeps it cheap
    on a NAS where a 24 MP JPEG is 8-15 MB.
    """
    digest = hashlib.blake2b(size.to_bytes(8, "little"), digest_size=16)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        head = os.pread(fd, FINGERPRINT_CHUNK, 0)
        digest.update(head)
        if size > len(head):
            tail_at = max(len(head), size - FINGERPRINT_CHUNK)
            digest.update(os.pread(fd, size - tail_at, tail_at))
    finally:
        os.close(fd)
    return digest.digest()


def to_i64(value: int) -> int:
    # st_ino/st_dev are unsigned 64-bit; SQLite integers are signed.
    return value - (1 << 64) if value >= 1 << 63 else value


def to_db(name: str) -> str | bytes:
    """A path or name as stored: TEXT if valid UTF-8, else its file-system bytes."""
    if name.isascii():
        return name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes of a non-UTF-8 name
        return name.encode(_FS_ENCODING, _FS_ERRORS)
    return name


def from_db(value: str | bytes) -> str:
    return value if isinstance(value, str) else bytes(value).decode(_FS_ENCODING, _FS_ERRORS)
