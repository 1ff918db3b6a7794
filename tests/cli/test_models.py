"""`models pull` and `models ls` through the real CLI, against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.download_server import DownloadServer, Route, closed_port_url
from tests.engines.test_downloads import MODEL_ZIP, PAYLOAD
from xmpvision.cli import app
from xmpvision.engines.catalog import CATALOG

runner = CliRunner()
ZIP_SHA256 = hashlib.sha256(MODEL_ZIP).hexdigest()


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    models = tmp_path / "models"
    monkeypatch.setenv("XMPVISION_MODELS", str(models))
    for entry in CATALOG.values():
        monkeypatch.delenv(entry.url_env, raising=False)
    return models


@pytest.fixture
def server() -> Iterator[DownloadServer]:
    srv = DownloadServer()
    yield srv
    srv.close()


def _run(*args: str) -> Result:
    return runner.invoke(app, ["models", *args])


def _ls() -> dict[str, dict[str, Any]]:
    result = _run("ls", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def _contents(root: Path) -> list[str]:
    return sorted(os.listdir(root)) if root.exists() else []


def _one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("xmpvision: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_ls_before_and_after_pull(root: Path, server: DownloadServer) -> None:
    before = _ls()
    assert list(before) == list(CATALOG)
    nasnet = before["nasnet"]
    assert nasnet["status"] == "not installed" and nasnet["installed"] is False
    assert nasnet["path"] == str(root / "nasnet") and nasnet["size"] is None
    assert nasnet["engine"] == "tensorflow" and nasnet["default"] is True
    assert nasnet["checksums"] == [str(c) for c in CATALOG["nasnet"].checksums]
    assert before["efficientformerv2_s2"]["download_size"] == "50.8 MB"

    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    result = _run("pull", "nasnet", "--url", server.url("/nasnet.zip"), "--sha256", ZIP_SHA256)
    assert result.exit_code == 0, result.output
    assert f"installed nasnet in {root / 'nasnet'}" in result.stdout
    assert f"sha256:{ZIP_SHA256} verified" in result.stdout

    after = _ls()
    assert after["nasnet"]["status"] == "installed" and after["nasnet"]["installed"] is True
    on_disk = sum(p.stat().st_size for p in (root / "nasnet").rglob("*") if p.is_file())
    assert after["nasnet"]["size"] == on_disk > len(PAYLOAD)
    assert after["efficientformerv2_s2"]["status"] == "not installed"


def test_ls_table_formats(root: Path) -> None:
    (root / "repvit_m1_0").mkdir(parents=True)  # a directory without the model
    result = _run("ls", "--csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Name,Engine,Default,Installed,Size"
    assert "nasnet,tensorflow,yes,not installed," in lines
    assert "efficientformerv2_s2,onnx,yes,not installed,50.8 MB download" in lines
    assert f"repvit_m1_0,onnx,,incomplete: {root / 'repvit_m1_0'},27.4 MB download" in lines
    assert _run("ls", "--json", "--md").exit_code == 2


def test_already_installed_does_nothing_unless_forced(root: Path,
                                                      server: DownloadServer) -> None:
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    url = server.url("/nasnet.zip")
    assert _run("pull", "nasnet", "--url", url, "--sha256", ZIP_SHA256).exit_code == 0
    marker = root / "nasnet" / "labels.txt"
    marker.write_text("edited\n")

    again = _run("pull", "nasnet", "--url", url, "--sha256", ZIP_SHA256)
    assert again.exit_code == 0, again.output
    assert "already installed" in again.stdout and "--force" in again.stdout
    assert len(server.requests) == 1 and marker.read_text() == "edited\n"

    forced = _run("pull", "nasnet", "--url", url, "--sha256", ZIP_SHA256, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(server.requests) == 2 and marker.read_text() == "cat\ndog\n"
    assert _contents(root) == ["nasnet"]


def test_checksum_mismatch_fails_with_one_line(root: Path, server: DownloadServer) -> None:
    # No --sha256: the catalog's digest applies, and the test zip is not PhotoPrism's.
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    url = server.url("/nasnet.zip")
    result = _run("pull", "nasnet", "--url", url)
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert url in line and "checksum mismatch" in line and ZIP_SHA256 in line
    assert CATALOG["nasnet"].checksums[0].hexdigest in line
    assert _contents(root) == []


def test_mirror_variable_is_used_and_checked(root: Path, server: DownloadServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    monkeypatch.setenv("XMPVISION_NASNET_URL", server.url("/nasnet.zip"))
    result = _run("pull", "nasnet")
    assert result.exit_code == 1 and "checksum mismatch" in result.stderr
    assert server.requests == ["/nasnet.zip"]


def test_truncated_download_fails(root: Path, server: DownloadServer) -> None:
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP[:1000], content_length=len(MODEL_ZIP))
    url = server.url("/nasnet.zip")
    result = _run("pull", "nasnet", "--url", url, "--sha256", ZIP_SHA256)
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert url in line and "truncated download" in line
    assert _contents(root) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_fails(root: Path, server: DownloadServer, status: int) -> None:
    url = server.url("/nasnet.zip")
    server.routes["/nasnet.zip"] = Route(status, b"no")
    result = _run("pull", "nasnet", "--url", url, "--sha256", ZIP_SHA256)
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert url in line and f"HTTP {status}" in line
    assert _contents(root) == []


def test_offline_names_the_url_the_file_and_where_it_goes(root: Path) -> None:
    url = closed_port_url("/nasnet.zip")
    result = _run("pull", "nasnet", "--url", url)
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert url in line and "offline" in line
    assert "xmpvision models pull nasnet --file nasnet.zip" in line
    assert str(root / "nasnet") in line
    assert _contents(root) == []


def test_install_from_a_file_fetched_by_hand(root: Path, tmp_path: Path) -> None:
    given = tmp_path / "nasnet.zip"
    given.write_bytes(MODEL_ZIP)
    mismatch = _run("pull", "nasnet", "--file", str(given))
    assert mismatch.exit_code == 1
    line = _one_error_line(mismatch)
    assert str(given) in line and "checksum mismatch" in line
    assert _contents(root) == []

    result = _run("pull", "nasnet", "--file", str(given), "--sha256", ZIP_SHA256)
    assert result.exit_code == 0, result.output
    assert (root / "nasnet" / "saved_model.pb").read_bytes() == b"graph"
    assert _ls()["nasnet"]["installed"] is True


def test_onnx_model_is_installed_where_the_onnx_engine_looks(root: Path,
                                                            server: DownloadServer) -> None:
    server.routes["/s2.onnx"] = Route(body=PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    result = _run("pull", "efficientformerv2_s2", "--url", server.url("/s2.onnx"),
                  "--sha256", f"sha256:{digest}")
    assert result.exit_code == 0, result.output
    assert (root / "efficientformerv2_s2" / "model.onnx").read_bytes() == PAYLOAD
    assert _ls()["efficientformerv2_s2"]["size"] == len(PAYLOAD)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pull", "resnet50"], "unknown model 'resnet50'; known: nasnet, "),
        (["pull", "nasnet", "--sha256", "xyz"], "not a sha256 digest"),
        (["pull", "nasnet", "--file", "/nonexistent/nasnet.zip"], "no such file"),
        (["pull", "nasnet", "--file", "a.zip", "--url", "http://x/"], "not both"),
    ],
)
def test_usage_errors_exit_2(root: Path, args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.exit_code == 2
    assert message in _one_error_line(result)
    assert _contents(root) == []


def test_incomplete_directory_is_not_overwritten_without_force(
    root: Path, server: DownloadServer
) -> None:
    (root / "nasnet").mkdir(parents=True)
    (root / "nasnet" / "notes.txt").write_text("mine")
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    args = ["pull", "nasnet", "--url", server.url("/nasnet.zip"), "--sha256", ZIP_SHA256]
    result = _run(*args)
    assert result.exit_code == 2 and "--force" in _one_error_line(result)
    assert server.requests == [] and (root / "nasnet" / "notes.txt").exists()
    assert _run(*args, "--force").exit_code == 0
    assert (root / "nasnet" / "labels.txt").is_file()
    assert not (root / "nasnet" / "notes.txt").exists()


def test_an_installed_model_and_a_missing_file(root: Path, tmp_path: Path) -> None:
    given = tmp_path / "nasnet.zip"
    given.write_bytes(MODEL_ZIP)
    assert _run("pull", "nasnet", "--file", str(given), "--sha256", ZIP_SHA256).exit_code == 0
    missing = _run("pull", "nasnet", "--file", str(tmp_path / "gone.zip"))
    assert missing.exit_code == 2 and "gone.zip: no such file" in _one_error_line(missing)
    again = _run("pull", "nasnet", "--file", str(given))
    assert again.exit_code == 0
    assert f"already installed in {root / 'nasnet'}; --force installs {given} in its place" in (
        again.stdout)


def test_a_models_folder_that_cannot_be_written_is_a_setup_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given = tmp_path / "nasnet.zip"
    given.write_bytes(MODEL_ZIP)
    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")  # unwritable as a folder even for root
    monkeypatch.setenv("XMPVISION_MODELS", str(occupied / "models"))
    result = _run("pull", "nasnet", "--file", str(given), "--sha256", ZIP_SHA256)
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert f"cannot write in {occupied / 'models'}" in line and "XMPVISION_MODELS" in line
    assert "fetch" not in line
