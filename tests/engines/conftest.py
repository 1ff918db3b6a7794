"""Fixtures the engine tests share. A test module's own fixture of the same name wins (the
download tests' `server` is their download server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.library_builder import jpeg_bytes, write
from tests.openai_server import OpenAIServer
from xmpvision.prepare.images import PhotoImage

OPENAI_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"  # ids are case-preserved


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    """The OpenAI-compatible emulator, serving OPENAI_MODEL and "other"."""
    with OpenAIServer(models=[OPENAI_MODEL, "other"]) as emulator:
        yield emulator


@pytest.fixture
def photo(tmp_path: Path) -> Iterator[PhotoImage]:
    with PhotoImage(write(tmp_path / "IMG_0001.jpg", jpeg_bytes())) as image:
        yield image
