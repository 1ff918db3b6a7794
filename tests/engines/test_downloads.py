"""Fetching, checking and installing models, against a real loopback HTTP server."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.download_server import DownloadServer, Route, closed_port_url
from xmpvision.engines import downloads
from xmpvision.engines.catalog import CATALOG
from xmpvision.engines.downloads import Checksum, DownloadFailed, Layout, install, parse_sha256
from xmpvision.engines.tensorflow.install import MODEL_URL, download_model
from xmpvision.errors import EngineUnavailable

SAVED_MODEL = Layout("zip", ("saved_model.pb", "labels.txt"))
ONNX_FILE = Layout("file", ("model.onnx",))


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


# Incompressible enough to take several chunks, so progress is reported more than once.
PAYLOAD = os.urandom(3 * downloads.CHUNK_BYTES + 123)
MODEL_ZIP = make_zip({"nasnet/saved_model.pb": b"graph", "nasnet/labels.txt": b"cat\ndog\n",
                      "nasnet/variables/variables.data-00000-of-00001": PAYLOAD})


def sha256(data: bytes) -> Checksum:
    return Checksum("sha256", hashlib.sha256(data).hexdigest())


@pytest.fixture
def server() -> Iterator[DownloadServer]:
    srv = DownloadServer()
    yield srv
    srv.close()


def _only(root: Path) -> list[str]:
    return sorted(os.listdir(root)) if root.exists() else []


def test_zip_is_downloaded_verified_and_unpacked_with_progress(
    server: DownloadServer, tmp_path: Path
) -> None:
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    calls: list[tuple[int, int | None]] = []
    target = tmp_path / "models" / "nasnet"
    done = install(target, SAVED_MODEL, (sha256(MODEL_ZIP),), url=server.url("/nasnet.zip"),
                   progress=lambda n, total: calls.append((n, total)))
    assert (target / "saved_model.pb").read_bytes() == b"graph"
    assert (target / "variables" / "variables.data-00000-of-00001").read_bytes() == PAYLOAD
    assert done.matched == sha256(MODEL_ZIP) and done.size == len(MODEL_ZIP)
    assert done.digests["sha256"] == hashlib.sha256(MODEL_ZIP).hexdigest()
    # Progress: several reports, rising, ending at the full size, with the announced total.
    assert len(calls) > 1
    assert [n for n, _ in calls] == sorted(n for n, _ in calls)
    assert calls[-1] == (len(MODEL_ZIP), len(MODEL_ZIP))
    assert _only(tmp_path / "models") == ["nasnet"]  # no temporary directory left


def test_any_published_digest_is_accepted_and_sha1_is_checked_as_sha1(
    server: DownloadServer, tmp_path: Path
) -> None:
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    sha1 = Checksum("sha1", hashlib.sha1(MODEL_ZIP).hexdigest())
    other = Checksum("sha256", "0" * 64)
    done = install(tmp_path / "nasnet", SAVED_MODEL, (other, sha1),
                   url=server.url("/nasnet.zip"))
    assert done.matched == sha1


def test_checksum_mismatch_installs_nothing(server: DownloadServer, tmp_path: Path) -> None:
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    root = tmp_path / "models"
    wanted = Checksum("sha256", "ab" * 32)
    with pytest.raises(DownloadFailed) as info:
        install(root / "nasnet", SAVED_MODEL, (wanted,), url=server.url("/nasnet.zip"))
    reason = info.value.reason
    assert reason.startswith("checksum mismatch")
    assert hashlib.sha256(MODEL_ZIP).hexdigest() in reason and wanted.hexdigest in reason
    assert not info.value.offline
    assert _only(root) == []


def test_truncated_download_installs_nothing(server: DownloadServer, tmp_path: Path) -> None:
    # The server announces more than it sends and closes the connection.
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP[:5000],
                                         content_length=len(MODEL_ZIP))
    root = tmp_path / "models"
    with pytest.raises(DownloadFailed, match="truncated download"):
        install(root / "nasnet", SAVED_MODEL, (), url=server.url("/nasnet.zip"))
    assert _only(root) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_installs_nothing(server: DownloadServer, tmp_path: Path,
                                     status: int) -> None:
    server.routes["/nasnet.zip"] = Route(status, b"oops")
    root = tmp_path / "models"
    with pytest.raises(DownloadFailed, match=f"HTTP {status}"):
        install(root / "nasnet", SAVED_MODEL, (), url=server.url("/nasnet.zip"))
    assert _only(root) == []


def test_refused_connection_is_offline(tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="cannot connect") as info:
        install(tmp_path / "nasnet", SAVED_MODEL, (), url=closed_port_url())
    assert info.value.offline
    assert _only(tmp_path) == []


def test_unsafe_zip_installs_nothing(server: DownloadServer, tmp_path: Path) -> None:
    body = make_zip({"nasnet/saved_model.pb": b"x", "nasnet/labels.txt": b"a",
                     "../../evil.txt": b"!"})
    server.routes["/nasnet.zip"] = Route(body=body)
    root = tmp_path / "models"
    with pytest.raises(DownloadFailed, match=r"unusable archive.*escapes"):
        install(root / "nasnet", SAVED_MODEL, (sha256(body),), url=server.url("/nasnet.zip"))
    assert _only(root) == []
    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))


def test_zip_without_the_required_files_installs_nothing(
    server: DownloadServer, tmp_path: Path
) -> None:
    server.routes["/nasnet.zip"] = Route(body=make_zip({"nasnet/saved_model.pb": b"x"}))
    with pytest.raises(DownloadFailed, match=r"no labels\.txt beside saved_model\.pb"):
        install(tmp_path / "nasnet", SAVED_MODEL, (), url=server.url("/nasnet.zip"))
    assert _only(tmp_path) == []


def test_single_file_model_lands_in_its_directory(server: DownloadServer,
                                                   tmp_path: Path) -> None:
    server.routes["/m.onnx"] = Route(body=PAYLOAD)
    target = tmp_path / "efficientformerv2_s2"
    install(target, ONNX_FILE, (sha256(PAYLOAD),), url=server.url("/m.onnx"))
    assert os.listdir(target) == ["model.onnx"]
    assert (target / "model.onnx").read_bytes() == PAYLOAD


def test_local_file_is_checked_and_installed(tmp_path: Path) -> None:
    given = tmp_path / "nasnet.zip"
    given.write_bytes(MODEL_ZIP)
    root = tmp_path / "models"
    with pytest.raises(DownloadFailed, match="checksum mismatch"):
        install(root / "nasnet", SAVED_MODEL, (Checksum("sha256", "1" * 64),), file=given)
    assert _only(root) == []
    install(root / "nasnet", SAVED_MODEL, (sha256(MODEL_ZIP),), file=given)
    assert (root / "nasnet" / "labels.txt").read_text() == "cat\ndog\n"
    assert given.read_bytes() == MODEL_ZIP  # the user's file is left as it was


def test_local_file_that_is_not_a_zip(tmp_path: Path) -> None:
    given = tmp_path / "nasnet.zip"
    given.write_bytes(b"<html>")
    with pytest.raises(DownloadFailed, match=r"^not a zip file$"):
        install(tmp_path / "models" / "nasnet", SAVED_MODEL, (), file=given)


def test_replace_swaps_only_once_the_new_copy_is_good(server: DownloadServer,
                                                      tmp_path: Path) -> None:
    target = tmp_path / "nasnet"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"old")
    (target / "labels.txt").write_bytes(b"old")
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    with pytest.raises(DownloadFailed, match="checksum mismatch"):
        install(target, SAVED_MODEL, (Checksum("sha256", "2" * 64),),
                url=server.url("/nasnet.zip"), replace=True)
    assert (target / "saved_model.pb").read_bytes() == b"old"
    install(target, SAVED_MODEL, (sha256(MODEL_ZIP),), url=server.url("/nasnet.zip"),
            replace=True)
    assert (target / "saved_model.pb").read_bytes() == b"graph"
    assert _only(tmp_path) == ["nasnet"]


def test_another_process_installing_meanwhile_keeps_theirs(
    server: DownloadServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "nasnet"
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    real_stage = downloads._stage

    def stage_then_race(*args: object, **kwargs: bool) -> Path:
        staged = real_stage(*args, **kwargs)  # type: ignore[arg-type]
        target.mkdir()
        (target / "saved_model.pb").write_bytes(b"theirs")
        (target / "labels.txt").write_bytes(b"theirs")
        return staged

    monkeypatch.setattr(downloads, "_stage", stage_then_race)
    done = install(target, SAVED_MODEL, (), url=server.url("/nasnet.zip"))
    assert done.kept_existing
    assert (target / "saved_model.pb").read_bytes() == b"theirs"
    assert _only(tmp_path) == ["nasnet"]


def test_size_cap_applies_to_the_announced_length(server: DownloadServer,
                                                  tmp_path: Path) -> None:
    server.routes["/big.zip"] = Route(body=b"\0" * 5000)
    with pytest.raises(DownloadFailed, match="larger than 1000 bytes"):
        install(tmp_path / "nasnet", SAVED_MODEL, (), url=server.url("/big.zip"),
                max_bytes=1000)


@pytest.mark.parametrize("text", ["abc", "g" * 64, "0" * 63, "sha1:" + "0" * 64])
def test_parse_sha256_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        parse_sha256(text)


def test_parse_sha256_accepts_prefix_and_upper_case() -> None:
    assert parse_sha256(" SHA256:" + "AB" * 32) == Checksum("sha256", "ab" * 32)


# --- the TensorFlow engine's first-use download -----------------------------------------------


def _serving(body: bytes) -> httpx.Client:
    """A client whose every request gets `body`: stands in for PhotoPrism's host, which
    tests must not reach."""
    return httpx.Client(transport=httpx.MockTransport(lambda _request: httpx.Response(
        200, headers={"Content-Length": str(len(body))}, stream=httpx.ByteStream(body))))


def test_engine_download_from_the_catalog_url_is_verified(tmp_path: Path) -> None:
    with _serving(MODEL_ZIP) as client, pytest.raises(EngineUnavailable) as info:
        download_model(MODEL_URL, tmp_path / "nasnet", client=client)
    message = str(info.value)
    assert "checksum mismatch" in message and MODEL_URL in message
    assert str(CATALOG["nasnet"].checksums[0]) in message
    assert "models pull nasnet --file nasnet.zip" in (info.value.hint or "")
    assert _only(tmp_path) == []


def test_engine_download_from_the_catalog_url_with_a_date_query_is_verified(
    tmp_path: Path,
) -> None:
    with _serving(MODEL_ZIP) as client, pytest.raises(EngineUnavailable, match="mismatch"):
        download_model(MODEL_URL + "?20260101", tmp_path / "nasnet", client=client)


def test_engine_download_from_another_url_is_not_checked(server: DownloadServer,
                                                         tmp_path: Path) -> None:
    server.routes["/nasnet.zip"] = Route(body=MODEL_ZIP)
    download_model(server.url("/nasnet.zip"), tmp_path / "nasnet")
    assert (tmp_path / "nasnet" / "labels.txt").is_file()


def test_engine_download_offline_says_how_to_install_by_hand(tmp_path: Path) -> None:
    url = closed_port_url("/nasnet.zip")
    with pytest.raises(EngineUnavailable, match="ConnectError") as info:
        download_model(url, tmp_path / "nasnet")
    assert url in str(info.value) and str(tmp_path / "nasnet") in str(info.value)
    assert "by hand" in (info.value.hint or "")
