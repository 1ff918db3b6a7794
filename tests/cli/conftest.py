"""CLI tests never download model weights, never pick up the user's own vision.yml and never
write beside the user's own state (config warnings given are recorded there)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("XMPVISION_CONFIG", raising=False)
