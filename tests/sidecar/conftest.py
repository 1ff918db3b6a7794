"""Fixtures for the sidecar tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sidecar.sidecar_helpers import FIXTURES


@pytest.fixture
def place(tmp_path: Path) -> Callable[[str, str, str], Path]:
    """Put a fixture sidecar (by file name) beside a fake photo; returns the photo path."""

    def put(fixture: str, photo_name: str, sidecar_name: str) -> Path:
        photo = tmp_path / photo_name
        photo.write_bytes(b"\xff\xd8\xff\xd9")
        shutil.copy(FIXTURES / fixture, tmp_path / sidecar_name)
        return photo

    return put
