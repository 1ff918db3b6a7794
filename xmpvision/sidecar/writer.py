"""Atomic sidecar replacement: temp file in the same folder, fsync, rename, mode kept.

A reader (or a crash) sees either the old or the new file, never a partial one. Writers of
this program serialise on an advisory lock of the folder (flock on the directory: no lock file
is left behind); other programs do not take it, so the rename itself must not lose their edit.
Where the kernel can (Linux renameat2), the new file is exchanged with the old one atomically
and the file it displaced is compared with what we read: if another program replaced the
sidecar since, theirs is put back and a concurrent change is reported (the caller merges
again). Elsewhere we compare just before the rename, which leaves a window of microseconds.

A sidecar that is a symbolic link is neither read nor written unless the caller asks to follow
it: whoever can write the photo folder must not make a scan run as root edit or create files
elsewhere. All steps of a write work relative to one open handle of the folder, reads use
O_NOFOLLOW, the temp file is created with O_EXCL|O_NOFOLLOW, and rename() replaces a link that
was swapped in after our checks instead of writing to its target.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from xmpvision.errors import SidecarError
from xmpvision.sidecar.rdf import MAX_PACKET_BYTES

_TEMP_SUFFIX = ".xmpvision.tmp"
_NAME_MAX = 255
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


class ConcurrentChange(Exception):
    """The sidecar changed on disk since we read it; re-read and merge again."""


def symlinked(path: Path) -> SidecarError:
    return SidecarError(
        path, "is a symbolic link; not written (pass --follow-symlinks to write through it)"
    )


def _read(path: Path, name: str | Path, dir_fd: int | None, follow_symlinks: bool) -> bytes | None:
    # O_NONBLOCK: opening a FIFO someone put in our place must not hang the scan.
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise symlinked(path) from None
        raise SidecarError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SidecarError(path, "is not a regular file; left untouched")
        if info.st_size > MAX_PACKET_BYTES:  # not a sidecar; refused before reading it all
            raise SidecarError(path, f"larger than {MAX_PACKET_BYTES} bytes; left untouched")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise SidecarError(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_current(path: Path, *, follow_symlinks: bool = False) -> bytes | None:
    """The sidecar's bytes, or None when it does not exist. A symbolic link raises SidecarError
    unless `follow_symlinks` (then its target is read)."""
    return _read(path, path, None, follow_symlinks)


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


def discard_stale_temp(path: Path, dir_fd: int | None = None) -> None:
    """Remove the temp file a killed writer left; call only while holding folder_lock."""
    temp = temp_path(path, unique=False)
    try:
        os.unlink(temp if dir_fd is None else temp.name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:  # e.g. the folder was made read-only since
        raise SidecarError(path, f"cannot remove {temp.name}, left by an interrupted run: "
                                 f"{exc.strerror or exc}") from None


def _write_temp(temp: str, data: bytes, like: os.stat_result | None, dir_fd: int) -> None:
    # O_EXCL|O_NOFOLLOW: never open something that is already there, least of all a link.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, 0o666, dir_fd=dir_fd)
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


def atomic_replace(
    path: Path,
    data: bytes,
    *,
    expected: bytes | None,
    locked: bool,
    follow_symlinks: bool = False,
) -> None:
    """Replace `path` with `data` atomically, if it still holds `expected` (None: absent).

    Raises ConcurrentChange when the file changed since it was read, SidecarError on I/O errors
    and, unless `follow_symlinks`, when `path` is a symbolic link.
    """
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SidecarError(path, f"cannot open its folder: {exc.strerror or exc}") from None
    try:
        _replace_in(dir_fd, path, data, expected, locked, follow_symlinks)
    finally:
        os.close(dir_fd)


def _writable(dir_fd: int, path: Path, follow: bool) -> os.stat_result | None:
    """The sidecar's status (None: absent) if we may replace it; SidecarError otherwise."""
    name = path.name
    try:
        like = os.stat(name, dir_fd=dir_fd, follow_symlinks=follow)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SidecarError(path, f"cannot stat: {exc.strerror or exc}") from None
    if stat.S_ISLNK(like.st_mode):
        raise symlinked(path)
    if not stat.S_ISREG(like.st_mode):
        raise SidecarError(path, "is not a regular file; left untouched")
    # No write bit at all is the user's "do not touch", which root would otherwise ignore.
    if not os.access(name, os.W_OK, dir_fd=dir_fd, follow_symlinks=follow) or not (
        like.st_mode & 0o222
    ):
        raise SidecarError(path, "sidecar is read-only; left unchanged")
    return like


def _replace_in(
    dir_fd: int, path: Path, data: bytes, expected: bytes | None, locked: bool, follow: bool
) -> None:
    name = path.name
    like = _writable(dir_fd, path, follow)
    temp = temp_path(path, unique=not locked).name
    if locked:
        discard_stale_temp(path, dir_fd)  # under the lock, a file with this name is from a crash
    try:
        _write_temp(temp, data, like, dir_fd)
        if _read(path, name, dir_fd, follow) != expected:
            raise ConcurrentChange(str(path))
        if not _swap_in(dir_fd, path, temp, data, expected):
            # rename() replaces the directory entry: a link swapped in since is replaced
            # itself, its target is never written.
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        if isinstance(exc, OSError):
            raise SidecarError(path, f"cannot write: {exc.strerror or exc}") from None
        raise
    # Some network filesystems refuse fsync on directories; the rename is done all the same.
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)


def _renameat2(dir_fd: int, old: str, new: str, flags: int) -> bool:
    """renameat2(2) within one folder; False where the kernel, C library or filesystem has no
    such call or flag (then the caller renames the portable way). Other errors raise OSError."""
    call = _RENAMEAT2
    if call is None:
        return False
    if call(dir_fd, os.fsencode(old), dir_fd, os.fsencode(new), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code))


def _load_renameat2() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_RENAMEAT2 = _load_renameat2()


def _displaced(path: Path, temp: str, dir_fd: int) -> object:
    """What the exchange put under the temp name: bytes, None if nothing, or a marker."""
    try:
        return _read(path, temp, dir_fd, False)
    except SidecarError:  # a link or a special file was swapped in: not what we read
        return _displaced


def _swap_in(dir_fd: int, path: Path, temp: str, data: bytes, expected: bytes | None) -> bool:
    """Put `temp` in `path`'s place without a window in which another program's replacement of
    the sidecar could be lost; False when the kernel cannot (the caller renames). Raises
    ConcurrentChange, with the other program's file in place, when the sidecar was no longer
    `expected`."""
    name = path.name
    if expected is None:  # a new sidecar: never replace one that appeared meanwhile
        try:
            return _renameat2(dir_fd, temp, name, _RENAME_NOREPLACE)
        except FileExistsError:
            raise ConcurrentChange(str(path)) from None
    try:
        if not _renameat2(dir_fd, temp, name, _RENAME_EXCHANGE):
            return False
    except FileNotFoundError:  # removed meanwhile: the owner's deletion stands
        raise ConcurrentChange(str(path)) from None
    if _displaced(path, temp, dir_fd) == expected:
        os.unlink(temp, dir_fd=dir_fd)
        return True
    # Another program replaced the sidecar after our last look: put theirs back. If it replaced
    # ours again in the meantime, that newer file of theirs goes back instead.
    _renameat2(dir_fd, temp, name, _RENAME_EXCHANGE)
    if _displaced(path, temp, dir_fd) != data:
        _renameat2(dir_fd, temp, name, _RENAME_EXCHANGE)
    raise ConcurrentChange(str(path))
