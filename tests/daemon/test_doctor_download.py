"""`doctor` is not `ok` about a classifier that is not installed and cannot be downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.download_server import DownloadServer, Route, closed_port_url
from xmpvision.cli import app

CONFIG = "Models:\n  - {Type: labels, Default: true}\n  - {Type: caption, Disabled: true}\n"


def _classifier_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> str:
    monkeypatch.delenv("XMPVISION_NO_DOWNLOAD", raising=False)
    monkeypatch.setenv("XMPVISION_NASNET_URL", url)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    config = tmp_path / "vision.yml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(app, ["doctor", "--config", str(config),
                                      "--state", str(tmp_path / "state.sqlite3")])
    (line,) = [x for x in result.stdout.splitlines() if " classifier: " in f" {x}"]
    level, rest = line.split(" ", 1)
    return f"{level} {rest.strip()}"  # the level's padding left out


def test_an_offline_machine_is_warned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = closed_port_url("/nasnet.zip")
    line = _classifier_line(tmp_path, monkeypatch, url)
    assert line.startswith(f"warn classifier: no model at {tmp_path / 'data'}"), line
    assert f"{url} cannot be fetched" in line and "models pull nasnet --file" in line
    # Where the download answers, the first run fetches it: that is fine.
    server = DownloadServer()
    server.routes["/nasnet.zip"] = Route(200, b"PK")
    try:
        line = _classifier_line(tmp_path, monkeypatch, server.url("/nasnet.zip"))
    finally:
        server.close()
    assert line.startswith("ok classifier: no model at"), line
