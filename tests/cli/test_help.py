"""Help texts describe the output their option gives."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from tests.library_builder import write_config, write_photos
from tests.ollama_server import OllamaServer
from xmpvision.cli import app

runner = CliRunner()


def _help(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return re.sub(r"[│\s]+", " ", result.stdout)


def test_status_json_help_describes_one_object() -> None:
    text = _help("status")
    assert "NDJSON" not in text and "per photo" not in text
    assert '{"jobs": [...], "worker":' in text


def test_vision_test_json_help_describes_one_object(tmp_path: Path) -> None:
    text = _help("vision", "test")
    assert "JSON array" not in text and "One JSON object" in text
    (photo,) = write_photos(tmp_path / "photos", 1, per_folder=1)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = write_config(tmp_path / "vision.yml", server.url, types=("caption",))
        result = runner.invoke(app, ["vision", "test", str(photo), "--json",
                                     "--config", str(config)])
    assert isinstance(json.loads(result.stdout), dict)  # what the help says
