"""CLI tests never download model weights and never pick up the user's own vision.yml."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
    monkeypatch.delenv("XMPVISION_CONFIG", raising=False)
