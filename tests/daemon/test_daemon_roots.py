"""The daemon's folders as a NAS has them: a share not mounted yet costs its own folder, not the
others, and is watched once it appears; a watched folder deleted and created again is watched
again."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.daemon.helpers import photos
from tests.daemon.test_daemon import (
    Daemon,
    config,
    daemon_factory,
    sidecars,
    wait_for,
)
from tests.ollama_server import OllamaServer

__all__ = ["daemon_factory"]  # the fixture


def test_missing_and_recreated_roots(tmp_path: Path,
                                     daemon_factory: Callable[..., Daemon]) -> None:
    share, library = tmp_path / "share-not-mounted", tmp_path / "lib"
    first = photos(library, 2)
    with OllamaServer(models=["gemma3:latest"], latency=0.01) as server:
        daemon = daemon_factory(config(server.url, (
            f"Daemon:\n  Paths: [{share}, {library}]\n"
            "  Worker: {Every: 1h, Watch: true, Debounce: 1s}\n"))).start()
        wait_for(sidecars(first), 30, "the folder that is there")
        assert f"{share}: no such folder" in daemon.text()
        mounted = photos(share, 2)  # the share is mounted: watched, and its photos done
        wait_for(sidecars(mounted), 30, "the share once it is there")
        later = photos(share / "2026", 1, start=10)  # and it is watched from now on
        wait_for(sidecars(later), 30, "a photo added to the share")
        shutil.rmtree(library)
        wait_for(lambda: f"{library} is gone" in daemon.text(), 30, "the deleted folder")
        again = photos(library, 2, start=20)
        wait_for(sidecars(again), 30, "the folder created again")
        newer = photos(library, 1, start=30)
        wait_for(sidecars(newer), 30, "a photo added to the folder created again")
        assert daemon.stop() == 0


def passes(daemon: Daemon) -> int:
    """The worker's passes that have ended."""
    return len(re.findall(r"newly-indexed: [a-z ]+: \d+ done", daemon.text()))


def test_a_photo_still_being_copied_in_is_waited_for(
        tmp_path: Path, daemon_factory: Callable[..., Daemon]) -> None:
    library = tmp_path / "lib"
    [whole] = photos(tmp_path / "source", 1)
    data = whole.read_bytes()
    library.mkdir()
    with OllamaServer(models=["gemma3:latest"], latency=0.01) as server:
        daemon = daemon_factory(config(server.url, (
            f"Daemon:\n  Paths: [{library}]\n"
            "  Worker: {Every: 1h, Watch: true, Debounce: 1s}\n"))).start()
        wait_for(lambda: passes(daemon) == 1, 30, "the first pass")
        copy = library / whole.name
        with copy.open("wb") as out:  # a copy that pauses longer than Debounce halfway
            out.write(data[: len(data) // 2])
            out.flush()
            wait_for(lambda: passes(daemon) == 2, 30, "a pass during the pause")
            out.write(data[len(data) // 2:])
        wait_for(sidecars([copy]), 30, "the photo once it is complete")
        assert daemon.stop() == 0
    text = daemon.text()
    assert f"failed {copy}" not in text
