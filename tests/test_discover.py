"""Discovery: kinds, skip rules, symlinks and loops, errors as values, streaming."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.library_builder import _DROP_DAC, REPO, permissions_enforced
from xmpvision.discover import (
    DiscoveryError,
    Photo,
    discover,
    is_skipped,
    iter_photos,
    photo_kind,
)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def photos_of(items: list[Photo | DiscoveryError]) -> list[Photo]:
    return [item for item in items if isinstance(item, Photo)]


def errors_of(items: list[Photo | DiscoveryError]) -> list[DiscoveryError]:
    return [item for item in items if isinstance(item, DiscoveryError)]


def rel(root: Path, items: list[Photo | DiscoveryError]) -> list[str]:
    return [os.path.relpath(p.path, root) for p in photos_of(items)]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jpg", "jpeg"), ("a.JPEG", "jpeg"), ("a.jpe", "jpeg"), ("a.Jpg", "jpeg"),
        ("a.png", "png"), ("a.tif", "tiff"), ("a.TIFF", "tiff"), ("a.webp", "webp"),
        ("a.heic", "heif"), ("a.HEIF", "heif"), ("a.hif", "heif"),
        ("a.cr2", "raw"), ("a.CR3", "raw"), ("a.nef", "raw"), ("a.arw", "raw"),
        ("a.raf", "raw"), ("a.orf", "raw"), ("a.rw2", "raw"), ("a.DNG", "raw"),
        ("a.jpg.xmp", None), ("a.xmp", None), ("a.txt", None), ("jpg", None), ("a.", None),
    ],
)  # fmt: skip
def test_kind_by_extension(tmp_path: Path, name: str, kind: str | None) -> None:
    assert photo_kind(name) == kind
    touch(tmp_path / name)
    found = photos_of(list(discover([tmp_path])))
    assert [p.kind for p in found] == ([kind] if kind else [])


def test_walks_nested_folders_and_reports_stat(tmp_path: Path) -> None:
    photo = touch(tmp_path / "2024" / "06" / "IMG_1.jpg", b"12345")
    found = photos_of(list(discover([tmp_path])))
    assert len(found) == 1
    st = photo.stat()
    assert found[0] == Photo(
        str(photo), "jpeg", 5, st.st_mtime_ns, st.st_dev, st.st_ino, str(photo.parent), photo.name,
        frozenset(),
    )
    assert found[0].identity == (st.st_dev, st.st_ino)


def test_skip_rules(tmp_path: Path) -> None:
    keep = touch(tmp_path / "album" / "keep.jpg")
    for skipped in [
        "@eaDir/keep.jpg/SYNOPHOTO_THUMB_XL.jpg",  # Synology thumbnails
        "album/@eaDir/x.jpg",
        "#recycle/old.jpg",
        "#snapshot/GMT+01_2024/album/keep.jpg",
        "@Recycle/old.jpg",  # QNAP
        ".@__thumb/t.jpg",
        ".thumbnails/t.png",
        "lost+found/x.jpg",
        ".hidden/x.jpg",
        "album/.cache/x.jpg",
        "album/.x.jpg",  # hidden file
        "album/._keep.jpg",  # macOS AppleDouble
        "album/keep.jpg.xmp",
        "album/keep.xmp",
    ]:
        touch(tmp_path / skipped)
    assert rel(tmp_path, list(discover([tmp_path]))) == [os.path.relpath(keep, tmp_path)]
    assert is_skipped("@eaDir") and is_skipped(".x") and not is_skipped("album")


def test_order_is_sorted_with_photos_of_a_folder_together(tmp_path: Path) -> None:
    for name in ["b/2.jpg", "b/1.jpg", "a/z.jpg", "a/sub/y.jpg", "a/x.jpg", "top.jpg"]:
        touch(tmp_path / name)
    found = photos_of(list(discover([tmp_path])))
    assert [os.path.relpath(p.path, tmp_path) for p in found] == [
        "top.jpg", "a/x.jpg", "a/z.jpg", "a/sub/y.jpg", "b/1.jpg", "b/2.jpg",
    ]  # fmt: skip
    # The folder string is shared, so the state can spot a folder change cheaply.
    assert found[1].parent is found[2].parent
    assert all(p.path == os.path.join(p.parent, p.name) for p in found)


def test_folder_with_a_photo_extension_is_walked(tmp_path: Path) -> None:
    touch(tmp_path / "trip.jpg" / "inside.png")
    assert rel(tmp_path, list(discover([tmp_path]))) == ["trip.jpg/inside.png"]


def test_single_file_roots_and_bad_roots(tmp_path: Path) -> None:
    photo = touch(tmp_path / "one.NEF")
    text = touch(tmp_path / "notes.txt")
    items = list(discover([photo, text, tmp_path / "missing"]))
    assert [p.path for p in photos_of(items)] == [str(photo)]
    reasons = {os.path.basename(e.path): e.reason for e in errors_of(items)}
    assert reasons == {
        "notes.txt": "not a supported photo type",
        "missing": "No such file or directory",
    }


def test_relative_root_gives_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "lib" / "a.jpg")
    monkeypatch.chdir(tmp_path)
    assert [p.path for p in photos_of(list(discover(["lib"])))] == [str(tmp_path / "lib" / "a.jpg")]


def test_overlapping_roots_yield_each_photo_once(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "1.jpg")
    touch(tmp_path / "b" / "2.jpg")
    items = list(discover([tmp_path / "a", tmp_path]))
    assert sorted(rel(tmp_path, items)) == ["a/1.jpg", "b/2.jpg"]
    assert errors_of(items) == []


def test_fifo_with_photo_name_is_not_yielded(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    touch(tmp_path / "real.jpg")
    assert rel(tmp_path, list(discover([tmp_path]))) == ["real.jpg"]


# -- symlinks -------------------------------------------------------------------------------


def make_links(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    touch(lib / "a" / "1.jpg")
    touch(tmp_path / "elsewhere" / "2.jpg")
    touch(tmp_path / "target.jpg")
    os.symlink(lib, lib / "a" / "loop")  # back to an ancestor
    os.symlink(tmp_path / "elsewhere", lib / "other")
    os.symlink(tmp_path / "target.jpg", lib / "link.jpg")
    os.symlink(lib / "self.jpg", lib / "self.jpg")  # ELOOP when followed
    os.symlink(tmp_path / "gone.jpg", lib / "broken.jpg")
    return lib


def test_symlinks_are_not_followed_by_default(tmp_path: Path) -> None:
    lib = make_links(tmp_path)
    items = list(discover([lib]))
    assert rel(lib, items) == ["a/1.jpg"]
    assert errors_of(items) == []


def test_following_symlinks_never_loops(tmp_path: Path) -> None:
    lib = make_links(tmp_path)
    items = list(discover([lib], follow_symlinks=True))
    assert rel(lib, items) == ["link.jpg", "a/1.jpg", "other/2.jpg"]
    reasons = {os.path.relpath(e.path, lib): e.reason for e in errors_of(items)}
    assert reasons.keys() == {"a/loop", "self.jpg", "broken.jpg"}
    assert reasons["a/loop"] == f"symlink loop: it is the folder {lib} again"
    assert "symbolic links" in reasons["self.jpg"]  # ELOOP's message
    assert reasons["broken.jpg"] == "broken symlink"
    linked = photos_of(items)[0]
    assert linked.identity == (os.stat(tmp_path / "target.jpg").st_dev,
                               os.stat(tmp_path / "target.jpg").st_ino)


def test_symlink_loop_as_root(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    items = list(discover([tmp_path / "a"], follow_symlinks=True))
    assert len(items) == 1 and isinstance(items[0], DiscoveryError)
    assert items[0].path == str(tmp_path / "a")
    assert "symbolic links" in items[0].reason


def test_two_links_to_one_folder_yield_its_photos_once(tmp_path: Path) -> None:
    touch(tmp_path / "shared" / "s.jpg")
    lib = tmp_path / "lib"
    lib.mkdir()
    os.symlink(tmp_path / "shared", lib / "l1")
    os.symlink(tmp_path / "shared", lib / "l2")
    items = list(discover([lib], follow_symlinks=True))
    assert rel(lib, items) == ["l1/s.jpg"]
    assert errors_of(items) == []  # a duplicate is not an error, only a loop is


def test_symlinked_root_is_followed_and_resolved(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "a.jpg")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    found = photos_of(list(discover([tmp_path / "alias"])))
    assert [p.path for p in found] == [str(tmp_path / "real" / "a.jpg")]


# -- errors are values ----------------------------------------------------------------------


def test_unreadable_folder_is_reported_and_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "locked" / "secret.jpg")
    touch(tmp_path / "open" / "ok.jpg")
    real_open, real_scandir = os.open, os.scandir
    locked = str(tmp_path / "locked")

    # Root reads any folder: the denial is simulated, whether the folder is listed by path
    # or opened first and listed by descriptor.
    def denied(path: object) -> None:
        if path == locked:
            raise PermissionError(errno.EACCES, "Permission denied", path)

    def open_folder(path: str, flags: int, *args: int, **kwargs: int) -> int:
        denied(path)
        return real_open(path, flags, *args, **kwargs)

    def scandir(listed: int | str) -> object:
        denied(listed)
        return real_scandir(listed)

    monkeypatch.setattr("xmpvision.discover.os.open", open_folder)
    monkeypatch.setattr("xmpvision.discover.os.scandir", scandir)
    items = list(discover([tmp_path]))
    assert rel(tmp_path, items) == ["open/ok.jpg"]
    assert errors_of(items) == [DiscoveryError(locked, "Permission denied")]


_DISCOVER_CHILD = """
import json, sys
from xmpvision.discover import DiscoveryError, discover
print(json.dumps([[type(i).__name__, i.path, getattr(i, "reason", "")]
                  for i in discover([sys.argv[1]])]))
"""


def test_unreadable_folder_for_real(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    touch(locked / "secret.jpg")
    touch(tmp_path / "ok.jpg")
    locked.chmod(0)
    try:
        # As root the kernel ignores permissions: walk in a child without that privilege.
        reason = permissions_enforced()
        if reason is not None:
            pytest.fail(reason)
        prefix = _DROP_DAC if os.geteuid() == 0 else []
        out = subprocess.run([*prefix, sys.executable, "-c", _DISCOVER_CHILD, str(tmp_path)],
                             capture_output=True, text=True, check=True, cwd=REPO).stdout
    finally:
        locked.chmod(0o755)
    items = json.loads(out)
    assert [os.path.relpath(p, tmp_path) for kind, p, _ in items if kind == "Photo"] == ["ok.jpg"]
    assert [(p, why) for kind, p, why in items if kind == "DiscoveryError"] == [
        (str(locked), "Permission denied")
    ]


def test_listing_that_fails_half_way_keeps_what_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "flaky" / "a.jpg")
    touch(tmp_path / "flaky" / "b.jpg")
    real_scandir = os.scandir
    flaky = str(tmp_path / "flaky")

    class FailingListing:
        def __init__(self, listed: int | str) -> None:
            self.inner = real_scandir(listed)
            self.entries = sorted(self.inner, key=lambda e: e.name)

        def __enter__(self) -> FailingListing:
            return self

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

        def __iter__(self) -> Iterator[os.DirEntry[str]]:
            yield self.entries[0]
            raise OSError(errno.EIO, "Input/output error")

    flaky_st = os.stat(flaky)

    def scandir(listed: int | str) -> object:
        st = os.stat(listed)  # the folder, whether listed by path or by descriptor
        if (st.st_dev, st.st_ino) == (flaky_st.st_dev, flaky_st.st_ino):
            return FailingListing(listed)
        return real_scandir(listed)

    monkeypatch.setattr("xmpvision.discover.os.scandir", scandir)
    items = list(discover([tmp_path]))
    assert rel(tmp_path, items) == ["flaky/a.jpg"]
    assert errors_of(items) == [DiscoveryError(flaky, "listing stopped: Input/output error")]


def test_file_vanishing_between_listing_and_stat(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    doomed = touch(tmp_path / "b.jpg")
    walk = discover([tmp_path])
    first = next(walk)  # the folder is listed; b.jpg is not stat'ed yet
    assert isinstance(first, Photo) and first.name == "a.jpg"
    doomed.unlink()
    assert list(walk) == [DiscoveryError(str(doomed), "vanished during the scan")]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_walk_leaves_no_folder_open(tmp_path: Path) -> None:
    for n in range(3):
        touch(tmp_path / "a" / f"p{n}.jpg")
    touch(tmp_path / "b" / "p.jpg")
    before = sorted(os.listdir("/proc/self/fd"))
    walk = discover([tmp_path])
    first = next(walk)  # stopped inside folder a, which is open for its stat calls
    assert isinstance(first, Photo) and first.name == "p0.jpg"
    del walk  # as a caller that stops early (--count) drops it
    assert sorted(os.listdir("/proc/self/fd")) == before
    assert len(list(discover([tmp_path]))) == 4
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_non_utf8_name_is_found_and_still_opens(tmp_path: Path) -> None:
    raw_name = b"caf\xe9-\xff.jpg"  # Latin-1 bytes: not valid UTF-8
    fd = os.open(os.fsencode(tmp_path) + b"/" + raw_name, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"pixels")
    os.close(fd)
    found = photos_of(list(discover([tmp_path])))
    assert len(found) == 1
    photo = found[0]
    assert os.fsencode(photo.name) == raw_name
    with open(photo.path, "rb") as handle:
        assert handle.read() == b"pixels"
    assert photo.size == 6


def test_on_error_callback_receives_errors(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    errors: list[DiscoveryError] = []
    items = list(discover([tmp_path, tmp_path / "missing"], on_error=errors.append))
    assert all(isinstance(i, Photo) for i in items) and len(items) == 1
    assert [e.path for e in errors] == [str(tmp_path / "missing")]
    assert str(errors[0]) == f"error reading {tmp_path / 'missing'}: No such file or directory"


def test_iter_photos_logs_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    touch(tmp_path / "a.jpg")
    assert [p.name for p in iter_photos([tmp_path, tmp_path / "nope"])] == ["a.jpg"]
    assert "nope: No such file or directory" in caplog.text


def test_discovery_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(20):
        touch(tmp_path / f"d{n:02d}" / "p.jpg")
    listed: list[int | str] = []
    real_scandir = os.scandir

    def scandir(listed_folder: int | str) -> object:
        listed.append(listed_folder)
        return real_scandir(listed_folder)

    monkeypatch.setattr("xmpvision.discover.os.scandir", scandir)
    walk = discover([tmp_path])
    first = next(walk)
    assert isinstance(first, Photo) and first.parent.endswith("d00")
    assert len(listed) == 2  # the root and the first folder, not all 21
    assert len(list(walk)) == 19


def test_sidecars_are_known_from_the_listing_and_not_walked(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "a.jpg.xmp")
    touch(tmp_path / "B.CR2")
    touch(tmp_path / "B.XMP")
    touch(tmp_path / "c.png")
    touch(tmp_path / "E.JPG")  # sidecars written by a tool that lower-cases names
    touch(tmp_path / "e.jpg.xmp")
    touch(tmp_path / "F.TIF")
    touch(tmp_path / "f.xmp")
    (tmp_path / "folder.xmp").mkdir()  # a folder so named is walked
    touch(tmp_path / "folder.xmp" / "d.jpg")
    found = {p.name: p for p in photos_of(list(discover([tmp_path])))}
    assert sorted(found) == ["B.CR2", "E.JPG", "F.TIF", "a.jpg", "c.png", "d.jpg"]
    assert found["a.jpg"].has_sidecar() and found["B.CR2"].has_sidecar()
    assert found["E.JPG"].has_sidecar() and found["F.TIF"].has_sidecar()
    assert not found["c.png"].has_sidecar() and not found["d.jpg"].has_sidecar()
    assert discover_one(tmp_path / "a.jpg").has_sidecar()  # a root photo: not known, assumed


def discover_one(path: Path) -> Photo:
    (photo,) = photos_of(list(discover([path])))
    return photo
