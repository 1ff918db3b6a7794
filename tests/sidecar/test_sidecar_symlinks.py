"""A sidecar that is a symbolic link is neither read nor written unless the caller follows it:
whoever can write the library must not make a scan (run as root) edit or create files elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.sidecar.sidecar_helpers import FIXTURES, NOW, result
from xmpvision.errors import SidecarError
from xmpvision.sidecar import read_sidecar, reset_sidecar, update_sidecar, writer

MESSAGE = "is a symbolic link; not written (pass --follow-symlinks to write through it)"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    library = tmp_path / "library"
    library.mkdir()
    path = library / "IMG_1.jpg"
    path.write_bytes(b"\xff\xd8\xff\xd9")
    return path


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def _calls(photo: Path) -> list[Callable[[], object]]:
    return [
        lambda: update_sidecar(photo, result(["dog"], "A dog."), now=NOW),
        lambda: update_sidecar(photo, result(["dog"], "A dog."), dry_run=True, now=NOW),
        lambda: update_sidecar(photo, result(["dog"], "A dog."), naming="base", now=NOW),
        lambda: reset_sidecar(photo, {"labels", "caption"}, "ollama", now=NOW),
    ]


def _refused(photo: Path, link: Path) -> None:
    for call in _calls(photo):
        with pytest.raises(SidecarError) as info:
            call()
        assert info.value.path == link
        assert str(info.value).endswith(MESSAGE)
        assert link.is_symlink()
    assert sorted(p.name for p in photo.parent.iterdir()) == sorted([photo.name, link.name])


@pytest.mark.parametrize("name", ["IMG_1.jpg.xmp", "IMG_1.XMP"])
def test_link_to_a_file_elsewhere_is_left_alone(photo: Path, elsewhere: Path, name: str) -> None:
    target = elsewhere / "x.xmp"
    shutil.copy(FIXTURES / "lightroom.xmp", target)
    before = target.read_bytes()
    link = photo.with_name(name)
    link.symlink_to(target)
    _refused(photo, link)
    assert target.read_bytes() == before
    assert os.listdir(elsewhere) == ["x.xmp"]


def test_dangling_link_creates_no_file_elsewhere(photo: Path, elsewhere: Path) -> None:
    link = photo.with_name("IMG_1.jpg.xmp")
    link.symlink_to(elsewhere / "planted.xmp")
    _refused(photo, link)
    assert os.listdir(elsewhere) == []


def test_link_to_an_empty_file_stays_empty(photo: Path, elsewhere: Path) -> None:
    target = elsewhere / "empty"
    target.write_bytes(b"")
    link = photo.with_name("IMG_1.jpg.xmp")
    link.symlink_to(target)
    _refused(photo, link)
    assert target.read_bytes() == b""


def test_follow_symlinks_writes_through_and_keeps_the_link(photo: Path, elsewhere: Path) -> None:
    target = elsewhere / "meta.xmp"
    update_sidecar(photo, result(["dog"]), now=NOW).path.rename(target)
    link = photo.with_name("IMG_1.jpg.xmp")
    link.symlink_to(target)
    change = update_sidecar(photo, result(["dog", "cat"]), now=NOW, follow_symlinks=True)
    assert change.path == link and link.is_symlink()
    assert read_sidecar(target).subjects == ("dog", "cat")
    change = reset_sidecar(photo, {"labels"}, "ollama", now=NOW, follow_symlinks=True)
    assert change.keywords == () and link.is_symlink()
    assert read_sidecar(target).subjects == ()
    assert sorted(os.listdir(photo.parent)) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]


def test_follow_symlinks_creates_the_target_of_a_dangling_link(
    photo: Path, elsewhere: Path
) -> None:
    link = photo.with_name("IMG_1.jpg.xmp")
    link.symlink_to(elsewhere / "meta.xmp")
    update_sidecar(photo, result(["dog"]), now=NOW, follow_symlinks=True)
    assert link.is_symlink()
    assert read_sidecar(elsewhere / "meta.xmp").subjects == ("dog",)


def _swap_for_link(sidecar: Path, target: Path) -> None:
    os.unlink(sidecar)
    os.symlink(target, sidecar)


def test_link_swapped_in_while_we_merge_is_not_read_or_written(
    photo: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar = update_sidecar(photo, result(["dog"]), now=NOW).path
    target = elsewhere / "x.xmp"
    shutil.copy(FIXTURES / "lightroom.xmp", target)
    before = target.read_bytes()
    real = writer._write_temp

    def swap_then_write(*args: object, **kwargs: object) -> None:
        _swap_for_link(sidecar, target)  # after our checks, before the final comparison
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writer, "_write_temp", swap_then_write)
    with pytest.raises(SidecarError, match="is a symbolic link"):
        update_sidecar(photo, result(["dog", "cat"]), now=NOW)
    assert target.read_bytes() == before
    assert sidecar.is_symlink()
    assert sorted(os.listdir(photo.parent)) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]  # no temp left


def test_final_rename_replaces_a_link_not_its_target(
    photo: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar = update_sidecar(photo, result(["dog"]), now=NOW).path
    target = elsewhere / "x.xmp"
    target.write_bytes(b"precious")
    real = os.replace

    def swap_then_replace(*args: object, **kwargs: object) -> None:
        _swap_for_link(sidecar, target)  # the last moment: after the comparison
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", swap_then_replace)
    update_sidecar(photo, result(["dog", "cat"]), now=NOW)
    monkeypatch.undo()
    assert target.read_bytes() == b"precious"
    assert not sidecar.is_symlink()
    assert read_sidecar(sidecar).subjects == ("dog", "cat")


@pytest.fixture
def alarm() -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError("blocked opening the sidecar")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(10)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.usefixtures("alarm")
def test_fifo_in_place_of_the_sidecar_does_not_hang_the_scan(photo: Path) -> None:
    fifo = photo.with_name("IMG_1.jpg.xmp")
    os.mkfifo(fifo)
    with pytest.raises(SidecarError, match="not a regular file"):
        update_sidecar(photo, result(["dog"]), now=NOW)
    assert fifo.exists() and not fifo.is_file()
