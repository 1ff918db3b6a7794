"""The file-system questions `StateDB.prune` asks before it forgets a record: is this root
walked and mounted, is a vanished folder really gone. Every doubt keeps the records: an
unmounted share must never cost its photos' state (they would all be analysed again)."""

from __future__ import annotations

import logging
import os

from xmpvision.state.codec import to_i64

logger = logging.getLogger(__name__)


def walked_root(root: str | os.PathLike[str]) -> str | None:
    """A root under which records may be forgotten, spelled as recorded paths are, or None:
    a single photo (its folder was not walked), or missing, unreadable or empty (a share that
    is not mounted leaves its empty mount point)."""
    top = os.path.realpath(os.fsdecode(os.fspath(root)))
    try:
        with os.scandir(top) as entries:
            empty = next(entries, None) is None
    except NotADirectoryError:
        return None
    except OSError as exc:
        logger.warning("not forgetting photos under %s: %s", top, exc.strerror or exc)
        return None
    if empty:
        logger.warning("not forgetting photos under %s: it is empty (not mounted?)", top)
        return None
    return top


def within(folder: str, top: str) -> bool:
    return folder == top or folder.startswith(top.rstrip(os.sep) + os.sep)


def nearest_existing(folder: str, top: str) -> str | None:
    """The nearest existing parent of a vanished folder (at most `top`); None if unknown."""
    parent = os.path.dirname(folder)
    while within(parent, top):
        try:
            os.stat(parent)
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(parent)
            continue
        except OSError:
            return None
        return parent
    return None


def same_device(path: str, recorded: set[int]) -> bool:
    """Whether files recorded with these st_dev values lived on the file system of `path`.

    A share mounted again may get another st_dev: its vanished folders are then kept (a few
    records too many), never a mounted share's records forgotten.
    """
    try:
        dev = to_i64(os.stat(path).st_dev)
    except OSError:
        return False
    return recorded <= {dev}
