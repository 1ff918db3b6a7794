"""Atomic sidecar replacement: temp file in the same folder, fsync, rename, mode kept.

A reader (or a crash) sees either the old or the new file, never a partial one. Writers of
this program serialise on an advisory lock of the folder (flock on the directory: no lock file
is left behind); other programs do not take it, so just before the rename we compare the file
with what we read and report a concurrent change instead of overwriting their edit.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from xmpvision.errors import SidecarError

_TEMP_SUFFIX = ".xmpvision.tmp"
_NAME_MAX = 255


class ConcurrentChange(Exception):
    """The sidecar changed on disk since we read it; re-read and merge again."""


def read_current(path: Path) -> bytes | None:
    """The sidecar's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SidecarError(path, f"cannot read: {exc.strerror or exc}") from None


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive advisory lock on `folder`; yields False where locking is unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        os.close(fd)  # closing releases the lock


def temp_path(path: Path, *, unique: bool) -> Path:
    """A hidden temp name beside `path`; `unique` adds randomness for unlocked writers."""
    extra = "." + secrets.token_hex(6) if unique else ""
    name = f".{path.name}{extra}{_TEMP_SUFFIX}"
    if len(os.fsencode(name)) > _NAME_MAX:
        digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:24]
        name = f".xmpvision-{digest}{extra}{_TEMP_SUFFIX}"
    return path.with_name(name)


def discard_stale_temp(path: Path) -> None:
    """Remove the temp file a killed writer left; call only while holding folder_lock."""
    temp = temp_path(path, unique=False)
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass
    except OSError as exc:  # e.g. the folder was made read-only since
        raise SidecarError(path, f"cannot remove {temp.name}, left by an interrupted run: "
                                 f"{exc.strerror or exc}") from None


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some network filesystems refuse fsync on directories; the rename is done
    finally:
        os.close(fd)


def _write_temp(temp: Path, data: bytes, like: os.stat_result | None) -> None:
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if like is not None:
            os.fchmod(fd, like.st_mode & 0o7777)
            if (like.st_uid, like.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, like.st_uid, like.st_gid)
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_replace(path: Path, data: bytes, *, expected: bytes | None, locked: bool) -> None:
    """Replace `path` with `data` atomically, if it still holds `expected` (None: absent).

    Raises ConcurrentChange when the file changed since it was read, SidecarError on I/O errors.
    """
    try:
        like: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        like = None
    except OSError as exc:
        raise SidecarError(path, f"cannot stat: {exc.strerror or exc}") from None
    # No write bit at all is the user's "do not touch", which root would otherwise ignore.
    if like is not None and (not os.access(path, os.W_OK) or not like.st_mode & 0o222):
        raise SidecarError(path, "sidecar is read-only; left unchanged")
    temp = temp_path(path, unique=not locked)
    if locked:
        discard_stale_temp(path)  # under the lock, a file with this name is from a crash
    try:
        _write_temp(temp, data, like)
        if read_current(path) != expected:
            raise ConcurrentChange(str(path))
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise SidecarError(path, f"cannot write: {exc.strerror or exc}") from None
        raise
    _fsync_folder(path.parent)
