"""The write window: another program replacing the sidecar while we write never loses its edit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.sidecar.sidecar_helpers import NOW, result
from xmpvision.sidecar import read_sidecar, update_sidecar
from xmpvision.sidecar.writer import temp_path

EDITOR = Path(__file__).with_name("race_editor.py")
RACES = 1000  # rounds in which the editor saw our temp file and replaced the sidecar at once
MAX_ROUNDS = 3000


def test_no_edit_is_lost_to_an_editor_racing_the_rename(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    sidecar = update_sidecar(photo, result(["dog"]), now=NOW).path
    editor = subprocess.Popen(
        [sys.executable, str(EDITOR), str(sidecar), str(temp_path(sidecar, unique=False))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert editor.stdin is not None and editor.stdout is not None
    hits, rounds, lost = 0, 0, []
    try:
        while hits < RACES and rounds < MAX_ROUNDS:
            editor.stdin.write(f"{rounds}\n")
            editor.stdin.flush()
            assert editor.stdout.readline().strip() == "armed"
            # Each round changes our keywords, so that each one writes.
            update_sidecar(photo, result(["dog"] if rounds % 2 else ["cat"]), now=NOW)
            hits += editor.stdout.readline().strip() == "hit"
            # Both are done: the editor's edit of this round must be in the file.
            if f"edit-{rounds}" not in read_sidecar(sidecar).subjects:
                lost.append(rounds)
            rounds += 1
    finally:
        editor.stdin.close()
        editor.wait(timeout=10)
    if hits < RACES:
        pytest.fail(f"the editor caught only {hits} writes in {rounds} rounds")
    assert lost == [], f"{len(lost)} of {rounds} edits lost ({hits} races)"
