"""What a run prints, at the size of a real library: one line per cause, not one per photo;
-q only errors and the summary; a dry run's plan; an interrupted run said so."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.library_builder import jpeg_bytes, run_xmpvision, write_config, write_photos
from tests.ollama_server import OllamaServer
from xmpvision.cli import app
from xmpvision.cli.run import _summary
from xmpvision.report import Summary

runner = CliRunner()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def _many_files(folder: Path, count: int) -> None:
    # One small JPEG with distinct trailing bytes (distinct files, not copies of one another,
    # which a move detection would compare): decoded, if the server is probed mid-run.
    data = jpeg_bytes((32, 24))
    for index in range(count):
        sub = folder / f"roll{index // 500:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"P{index:05d}.jpg").write_bytes(data + index.to_bytes(4, "big"))


def test_ollama_down_with_10000_photos_is_a_few_lines(tmp_path: Path) -> None:
    _many_files(tmp_path / "photos", 10_000)
    config = write_config(tmp_path / "vision.yml", _closed_port_url())
    result = run_xmpvision("scan", tmp_path / "photos", "--config", config,
                           "--state", tmp_path / "state.db", timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) < 10, "\n".join(lines[:20])
    assert any("9999 more photos failed the same way" in line for line in lines), lines
    assert "10000 failed" in result.stdout
    # -v lists them.
    verbose = run_xmpvision("scan", tmp_path / "photos", "-v", "--config", config,
                            "--state", tmp_path / "state.db", timeout=300)
    assert verbose.returncode == 1
    assert sum(line.startswith("failed ") for line in verbose.stderr.splitlines()) == 10_000
    assert "more photos failed the same way" not in verbose.stderr


def test_quiet_prints_only_errors_and_the_summary(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 4, per_folder=4)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = write_config(tmp_path / "vision.yml", server.url)
        result = run_xmpvision("scan", tmp_path / "photos", "-q", "--config", config,
                               "--state", tmp_path / "state.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        line for line in result.stdout.splitlines() if line.startswith("xmpvision: ")]
    assert "4 done" in result.stdout
    assert result.stderr == ""


def test_plain_dry_run_prints_the_plan(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 2, per_folder=2)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = write_config(tmp_path / "vision.yml", server.url)
        result = runner.invoke(app, ["scan", str(tmp_path / "photos"), "--dry-run",
                                     "--config", str(config),
                                     "--state", str(tmp_path / "state.db")])
    assert result.exit_code == 0, result.output
    for photo in photos:
        assert f"would change {photo}" in result.stdout
    assert "  keywords" in result.stdout or "  caption" in result.stdout, result.stdout
    assert not any(p.with_name(p.name + ".xmp").exists() for p in photos)


@pytest.mark.parametrize("json_", [False, True])
def test_interrupted_summary_says_so(json_: bool, capsys: pytest.CaptureFixture[str]) -> None:
    summary = Summary()
    summary.add("done")
    _summary(summary, json_, {}, interrupted=True)
    out = capsys.readouterr().out
    assert ('"interrupted": true' in out) if json_ else ("interrupted after 1 done" in out)
