"""Photo discovery: a streaming, error-tolerant walk of library roots.

`discover(roots)` yields one `Photo` per photo file and one `DiscoveryError` per problem
(unreadable folder, vanished file, symlink loop, ...); it never raises for a bad entry.

Properties the state database and the pipeline rely on:
- Paths are absolute `str` (roots are passed through `os.path.realpath`, so `/photos` and a
  symlink to it key the same state records). Names that are not valid UTF-8 are decoded with
  `surrogateescape` (as `os.fsdecode` does), so `open(photo.path)` still opens the file.
- All photos of one folder are yielded consecutively, sorted by name, before any subfolder;
  `Photo.parent` is the same `str` object for every photo of a folder.
- Memory does not grow with the library: only one folder listing and the stack of folders
  still to visit are held, plus one `(st_dev, st_ino)` per visited folder (for loop detection).
- One `stat` per photo (`DirEntry.stat`, cached by `os.scandir`); none for other files. A
  folder is listed through a descriptor held while its photos are yielded, so that each
  `stat` is an `fstatat` of one name, not a walk of the whole path by the kernel.
"""

from __future__ import annotations

import errno
import itertools
import logging
import operator
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

logger = logging.getLogger(__name__)

PhotoKind: TypeAlias = Literal["jpeg", "png", "tiff", "webp", "heif", "raw"]

# Lower-case extension (without the dot) -> kind; image preparation picks a decoder by kind.
EXTENSIONS: dict[str, PhotoKind] = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "png": "png",
    "tif": "tiff",
    "tiff": "tiff",
    "webp": "webp",
    "heic": "heif",
    "heif": "heif",
    "hif": "heif",
    "cr2": "raw",
    "cr3": "raw",
    "nef": "raw",
    "arw": "raw",
    "raf": "raw",
    "orf": "raw",
    "rw2": "raw",
    "dng": "raw",
}

# Upper-case spellings too, so that the walk rarely needs str.lower().
_EXTENSIONS_ANY_CASE: dict[str, PhotoKind] = EXTENSIONS | {
    ext.upper(): kind for ext, kind in EXTENSIONS.items()
}

# Folders (and files) NAS systems and OSes put inside shares. Names starting with "." (such as
# `.thumbnails`, QNAP's `.@__thumb`, macOS `._*`) are skipped by the hidden rule already.
SKIPPED_NAMES: frozenset[str] = frozenset(
    {
        "@eaDir",  # Synology thumbnails and extended attributes
        "#recycle",  # Synology recycle bin
        "#snapshot",  # Synology snapshot browsing: a full second copy of the share
        "@Recycle",  # QNAP recycle bin
        "@Recently-Snapshot",  # QNAP snapshot browsing
        "lost+found",  # fsck leftovers, root-only
        "$RECYCLE.BIN",  # Windows/SMB recycle bin
        "System Volume Information",
    }
)


class Photo(NamedTuple):
    """One photo file as found on disk (a snapshot of its `stat`). Immutable.

    A NamedTuple rather than a frozen dataclass: one is built per file on every rescan, and a
    frozen slots dataclass costs 0.93 us to construct against 0.12 us here (the walk calls
    tuple.__new__ directly): 80 ms per 100,000 files, which alone would push the no-op rescan
    past its budget of 3x `find` (bench/bench_rescan.py).
    """

    path: str  # absolute; may contain surrogate escapes for non-UTF-8 names
    kind: PhotoKind
    size: int
    mtime_ns: int
    dev: int
    ino: int
    parent: str  # os.path.dirname(path), shared by all photos of one folder
    name: str  # os.path.basename(path)
    # The names the folder's sidecars are for, as written (`IMG.jpg.xmp` -> `IMG.jpg`,
    # `IMG.xmp` -> `IMG`), shared by all photos of the folder, read in the same listing; None
    # when the folder was not listed (a photo given as a root, a symlink).
    sidecars: frozenset[str] | None = None

    def has_sidecar(self) -> bool:
        """Whether a sidecar of this photo (its name or its stem, in any letter case) was in its
        folder's listing (True when unknown)."""
        known = self.sidecars
        if known is None or self.name in known:
            return True
        name = self.name
        if name.rpartition(".")[0] in known:
            return True
        # Rarely reached (the sidecar's name differs in case): the folder's names lower-cased,
        # once per folder, not once per file in the listing.
        lowered = _lowered(known)
        name = name.lower()
        return name in lowered or name.rpartition(".")[0] in lowered

    @property
    def identity(self) -> tuple[int, int]:
        """(st_dev, st_ino): the same file under two paths has the same identity."""
        return (self.dev, self.ino)


@dataclass(frozen=True, slots=True)
class DiscoveryError:
    """A file or folder that could not be discovered; the walk went on without it."""

    path: str
    reason: str
    # A folder reached again through a symlink (or links too deep to resolve): not a photo
    # that failed, a part of the tree not walked twice.
    loop: bool = False

    def __str__(self) -> str:
        return f"error reading {self.path}: {self.reason}"


Discovered: TypeAlias = Photo | DiscoveryError
ErrorCallback: TypeAlias = Callable[[DiscoveryError], None]


def photo_kind(name: str) -> PhotoKind | None:
    """Kind of a file name by its extension (case-insensitive), or None for non-photos."""
    _, dot, ext = name.rpartition(".")
    if not dot:
        return None
    return EXTENSIONS.get(ext.lower())


def is_skipped(name: str) -> bool:
    """Whether discovery ignores a folder or file of this name (hidden or NAS metadata)."""
    return name.startswith(".") or name in SKIPPED_NAMES


def _reason(exc: OSError) -> str:
    # strerror is the stable, human part ("Permission denied"); str(exc) repeats the path.
    return exc.strerror or exc.__class__.__name__


def discover(
    roots: Iterable[str | os.PathLike[str]],
    *,
    follow_symlinks: bool = False,
    on_error: ErrorCallback | None = None,
) -> Iterator[Discovered]:
    """Every photo under `roots` (folders, walked recursively, or single photo files), lazily.

    Problems are yielded as `DiscoveryError` values; with `on_error` they are passed to the
    callback instead and only `Photo` values are yielded. Symlinks below a root are skipped
    unless `follow_symlinks`; a root given as a symlink is always followed. A folder reached a
    second time (a symlink loop, a bind mount, overlapping roots) is not walked again.
    """
    walker = _Walker(follow_symlinks)
    # chain() is C: no Python frame between the walk and the caller for each photo.
    items = itertools.chain.from_iterable(
        walker.walk_root(os.fsdecode(os.fspath(root))) for root in roots
    )
    if on_error is None:
        return items
    return _divert_errors(items, on_error)


def _divert_errors(items: Iterator[Discovered], on_error: ErrorCallback) -> Iterator[Photo]:
    for item in items:
        if isinstance(item, DiscoveryError):
            on_error(item)
        else:
            yield item


def iter_photos(
    roots: Iterable[str | os.PathLike[str]],
    *,
    follow_symlinks: bool = False,
    on_error: ErrorCallback | None = None,
) -> Iterator[Photo]:
    """Like `discover`, but yields only photos; errors go to `on_error` or to the log."""

    def log_error(error: DiscoveryError) -> None:
        logger.warning("%s", error)

    handler = on_error if on_error is not None else log_error
    for item in discover(roots, follow_symlinks=follow_symlinks, on_error=handler):
        if type(item) is Photo:
            yield item


class _Walker:
    """State of one discovery run: which folders were seen (for loops and overlaps)."""

    def __init__(self, follow_symlinks: bool) -> None:
        self.follow = follow_symlinks
        self.seen: dict[tuple[int, int], str] = {}  # folder identity -> first path it had

    def walk_root(self, root: str) -> Iterator[Discovered]:
        """The photos under one root (a folder, walked, or a single photo file)."""
        path = os.path.realpath(root)
        try:
            st = os.stat(path)
        except OSError as exc:
            return iter((DiscoveryError(os.path.abspath(root), _reason(exc)),))
        if stat.S_ISDIR(st.st_mode):
            if self._enter(path, st) is not None:
                return iter(())  # a root inside an earlier root: its photos were yielded
            return self._walk_tree(path)
        if not stat.S_ISREG(st.st_mode):
            return iter((DiscoveryError(path, "not a regular file or folder"),))
        parent, name = os.path.split(path)
        kind = photo_kind(name)
        if kind is None:
            return iter((DiscoveryError(path, "not a supported photo type"),))
        photo = Photo(path, kind, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, parent, name)
        return iter((photo,))

    def _enter(self, path: str, st: os.stat_result) -> Discovered | None:
        """Record a folder as visited. None: walk it; otherwise skip it (with an error if a loop).

        A folder seen before is either a loop (it is an ancestor of `path`) or a duplicate
        (a second link to it, a bind mount, overlapping roots): its photos were yielded once
        already, so a duplicate is only logged.
        """
        key = (st.st_dev, st.st_ino)
        first = self.seen.get(key)
        if first is None:
            self.seen[key] = path
            return None
        if path.startswith(first.rstrip(os.sep) + os.sep):
            return DiscoveryError(path, f"symlink loop: it is the folder {first} again",
                                  loop=True)
        logger.debug("skipping %s: same folder as %s, already scanned", path, first)
        return _SKIP

    def _walk_tree(self, top: str) -> Iterator[Discovered]:  # noqa: C901 - inlined hot path
        """Walk folders depth-first; per folder, its photos (sorted) before its subfolders.

        This loop is the per-file hot path of a rescan, so it is one generator with the
        per-entry work inlined (no helper calls per file).
        """
        extensions = _EXTENSIONS_ANY_CASE
        follow = self.follow
        new_photo = tuple.__new__  # Photo's own __new__ is a Python frame; skip it here
        photo_type = Photo
        file_type, regular = _S_IFMT, _S_IFREG
        stack = [top]
        while stack:
            folder = stack.pop()
            prefix = folder if folder.endswith(os.sep) else folder + os.sep
            fd, entries, error, sidecars = _list_folder(folder)
            subdirs: list[str] = []
            try:
                if error is not None:
                    yield error
                for entry in entries:
                    name = entry.name
                    dot = name.rfind(".")
                    kind = extensions.get(name[dot + 1 :]) if dot > 0 else None
                    if kind is None and dot > 0:
                        kind = extensions.get(name[dot + 1 :].lower())
                    try:
                        if kind is not None:
                            # The lstat is needed anyway; its mode replaces an is_file() call.
                            st = entry.stat(follow_symlinks=False)
                            if st.st_mode & file_type == regular:
                                yield new_photo(photo_type, (
                                    prefix + name, kind, st.st_size, st.st_mtime_ns,
                                    st.st_dev, st.st_ino, folder, name, sidecars))
                                continue
                        if entry.is_dir(follow_symlinks=False):
                            # One stat per folder (not per file) makes loops through bind
                            # mounts and overlapping roots impossible too.
                            item = self._enter(prefix + name, entry.stat(follow_symlinks=False))
                        elif follow and entry.is_symlink():
                            item = self._symlink(entry, prefix + name, folder)
                        else:
                            continue  # not a photo; a symlink not followed; fifo, socket, device
                    except FileNotFoundError:
                        yield DiscoveryError(prefix + name, "vanished during the scan")
                        continue
                    except OSError as exc:
                        yield DiscoveryError(prefix + name, _reason(exc),
                                             loop=exc.errno == errno.ELOOP)
                        continue
                    if item is None:
                        subdirs.append(prefix + name)
                    elif item is not _SKIP:
                        yield item
            finally:
                if fd is not None:
                    os.close(fd)  # also when the caller stops early (the generator is closed)
            # Reversed so that the stack pops subfolders in sorted order.
            stack.extend(reversed(subdirs))

    def _symlink(self, entry: os.DirEntry[str], path: str, folder: str) -> Discovered | None:
        """Follow one symlink: a Photo, an error, _SKIP, or None for "walk it as a folder"."""
        try:
            st = entry.stat(follow_symlinks=True)
        except FileNotFoundError:
            if photo_kind(entry.name) is None:
                return _SKIP
            return DiscoveryError(path, "broken symlink")
        # Other OSErrors (ELOOP: "Too many levels of symbolic links") reach the caller.
        if stat.S_ISDIR(st.st_mode):
            # The folder is walked under the link's path: the user's view of the library.
            return self._enter(path, st)
        kind = photo_kind(entry.name)
        if kind is None or not stat.S_ISREG(st.st_mode):
            return _SKIP
        return Photo(path, kind, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino,
                     folder, entry.name)


def _list_folder(
    folder: str,
) -> tuple[int | None, list[os.DirEntry[str]], DiscoveryError | None, frozenset[str]]:
    """The folder opened (a descriptor the caller closes, None if it could not be); its entries
    that are not skipped and not sidecars, sorted by name; any error; and the names its sidecar
    files are for (see Photo.sidecars).

    Listed through the descriptor, so that each entry's `stat` is an `fstatat` relative to it:
    the kernel resolves one name, not the whole path, per photo.
    """
    entries: list[os.DirEntry[str]] = []
    sidecars: set[str] = set()
    fd = None
    listing = None
    error = None
    try:
        fd = os.open(folder, _OPEN_FOLDER)
        with os.scandir(fd) as listing:
            for entry in listing:
                name = entry.name
                if name[0] != "." and name not in SKIPPED_NAMES:
                    # A sidecar file is known here and not walked (a folder so named is).
                    if name[-4:] in _XMP_SUFFIXES and not entry.is_dir(follow_symlinks=False):
                        sidecars.add(name[:-4])
                        continue
                    entries.append(entry)
    except OSError as exc:
        # A NAS can fail half-way through a listing (EIO, stale handle): keep what was read.
        reason = _reason(exc) if listing is None else f"listing stopped: {_reason(exc)}"
        error = DiscoveryError(folder, reason)
    entries.sort(key=_by_name)
    return fd, entries, error, frozenset(sidecars)


_by_name = operator.attrgetter("name")
# Every spelling of the extension: one set lookup per entry, no lower() on the hot path.
_XMP_SUFFIXES = frozenset(f".{x}{m}{p}" for x in "xX" for m in "mM" for p in "pP")
_S_IFMT = 0o170000
_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_S_IFREG = stat.S_IFREG

# The last folder's sidecar names, lower-cased: (names, lowered).
_last_lowered: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def _lowered(names: frozenset[str]) -> frozenset[str]:
    global _last_lowered
    last = _last_lowered  # one read: another thread may replace it
    if last[0] is not names:
        last = _last_lowered = (names, frozenset(name.lower() for name in names))
    return last[1]


# Sentinel: an entry that is deliberately not yielded (never escapes this module).
_SKIP = DiscoveryError("", "skipped")


