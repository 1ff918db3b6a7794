"""Where a classifier lives, and fetching it: PhotoPrism's nasnet.zip unpacked safely.

Where the model is looked for, first match wins:
1. `Path` of the model in vision.yml;
2. `$XMPVISION_MODELS/<model>` (the model name defaults to `nasnet`);
3. `$XDG_DATA_HOME/xmpvision/models/<model>` (`~/.local/share/xmpvision/models/nasnet`).
When the directory is missing and the model is `nasnet`, nasnet.zip is downloaded from
PhotoPrism's download host (or `$XMPVISION_NASNET_URL`) and unpacked there. Set
`XMPVISION_NO_DOWNLOAD=1` to forbid the download (offline NAS, managed installs).

Needs neither numpy nor TensorFlow, so `vision ls` can say where the model would come from on
any install.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import httpx

from xmpvision.config.defaults import DEFAULT_CLASSIFIER_MODEL
from xmpvision.config.models import ModelConfig
from xmpvision.errors import EngineUnavailable

log = logging.getLogger(__name__)

MODEL_URL = "https://dl.photoprism.app/tensorflow/nasnet.zip"
ENV_MODELS = "XMPVISION_MODELS"
ENV_NO_DOWNLOAD = "XMPVISION_NO_DOWNLOAD"
ENV_MODEL_URL = "XMPVISION_NASNET_URL"

# nasnet.zip is about 20 MB; the caps only stop a misbehaving server or a zip bomb from filling
# the NAS's disk.
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
MAX_EXTRACTED_BYTES = 1024 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 10_000
DOWNLOAD_TIMEOUT = httpx.Timeout(120.0, connect=15.0)


class UnsafeArchive(ValueError):
    """A zip that would write outside its target directory or is implausibly large."""



def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def model_name(config: ModelConfig) -> str:
    """The model's name as recorded in labels' provenance; "nasnet" unless configured."""
    name = (config.model or config.name or "").strip()
    return name or DEFAULT_CLASSIFIER_MODEL


def models_root(env: Mapping[str, str]) -> Path:
    """`$XMPVISION_MODELS`, else `$XDG_DATA_HOME/xmpvision/models` (XDG's default applies)."""
    if env.get(ENV_MODELS):
        return Path(env[ENV_MODELS]).expanduser()
    data_home = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(data_home).expanduser() / "xmpvision" / "models"


def resolve_model_dir(config: ModelConfig, env: Mapping[str, str]) -> Path:
    """The directory the model is loaded from (it may not exist yet)."""
    if config.path:
        return Path(config.path).expanduser()
    # Only the last path component: a model name must not steer us outside the models root.
    return models_root(env) / (Path(model_name(config)).name or DEFAULT_CLASSIFIER_MODEL)


def model_dir(config: ModelConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where the engine looks for the model, resolved against the process environment by
    default (for `vision ls`)."""
    return resolve_model_dir(config, os.environ if env is None else env)


def _check_member(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or UnsafeArchive for absolute, parent-escaping or link
    members. Rejecting (rather than sanitising, as ZipFile.extract does) makes a tampered
    archive an error the user sees instead of a half-installed model."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchive(f"absolute path in archive: {info.filename!r}")
    if any(part == ".." for part in path.parts):
        raise UnsafeArchive(f"path escapes the target directory: {info.filename!r}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"symbolic link in archive: {info.filename!r}")
    return path


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a zip into `dest`, refusing path traversal, links and zip bombs."""
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise UnsafeArchive(f"too many members in archive: {len(members)}")
        # Check every member before writing any, so a bad archive leaves nothing behind.
        checked = [(info, _check_member(info)) for info in members]
        if sum(info.file_size for info in members) > MAX_EXTRACTED_BYTES:
            raise UnsafeArchive("archive expands to more than the size limit")
        root = dest.resolve()
        written = 0
        for info, rel in checked:
            target = (root / rel).resolve()
            if target != root and not target.is_relative_to(root):
                raise UnsafeArchive(f"path escapes the target directory: {info.filename!r}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                # The sizes in the directory can lie; count what is really decompressed.
                while chunk := src.read(1024 * 1024):
                    written += len(chunk)
                    if written > MAX_EXTRACTED_BYTES:
                        raise UnsafeArchive("archive expands to more than the size limit")
                    out.write(chunk)


def _find_model_root(extracted: Path) -> Path:
    """The directory holding saved_model.pb: the archive root or its single top folder."""
    if (extracted / "saved_model.pb").is_file():
        return extracted
    candidates = [p.parent for p in extracted.glob("*/saved_model.pb")]
    if len(candidates) != 1:
        raise UnsafeArchive("archive does not contain exactly one saved_model.pb")
    return candidates[0]


class _Failed(Exception):
    """One step of a download failed; the reason ends up in the user's message."""


def download_model(
    url: str,
    target: Path,
    *,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Download a zipped model from `url` and install it as directory `target`.

    The zip is streamed to a temporary directory next to `target` (same filesystem), checked,
    unpacked there and renamed into place, so an interrupted download never leaves a partial
    model where the engine looks. If another process installed the model meanwhile, its copy
    is kept. Raises EngineUnavailable with where it tried and what to do.
    """
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(prefix=f".{target.name}-download-",
                                            dir=target.parent))
        except OSError as exc:
            raise _Failed(f"cannot create {target.parent}: {exc}") from exc
        try:
            archive = workdir / "model.zip"
            _fetch(url, archive, client, max_bytes)
            _install(_unpack(archive, workdir / "extracted"), target)
        except OSError as exc:
            raise _Failed(str(exc)) from exc
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    except _Failed as failed:
        raise EngineUnavailable(
            f"error downloading tensorflow model {url} to {target}: {failed}",
            hint="download and unpack it there by hand, or set Path in vision.yml to an "
            "existing model directory",
        ) from failed.__cause__
    log.info("downloaded tensorflow model %s to %s", url, target)
    return target


def _fetch(url: str, archive: Path, client: httpx.Client | None, max_bytes: int) -> None:
    http = client or httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True)
    try:
        with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise _Failed(f"HTTP {response.status_code}")
            size = 0
            with archive.open("wb") as out:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise _Failed(f"larger than {max_bytes} bytes")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise _Failed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if client is None:
            http.close()


def _unpack(archive: Path, extracted: Path) -> Path:
    """The unpacked model's root folder, checked to hold a model."""
    if not zipfile.is_zipfile(archive):
        raise _Failed("the server did not send a zip file")
    extracted.mkdir()
    try:
        safe_extract(archive, extracted)
        model_root = _find_model_root(extracted)
    # RuntimeError: encrypted members; NotImplementedError: unsupported compression.
    except (UnsafeArchive, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        raise _Failed(f"unusable archive: {exc}") from exc
    if not (model_root / "labels.txt").is_file():
        raise _Failed("archive has no labels.txt beside saved_model.pb")
    return model_root


def _install(model_root: Path, target: Path) -> None:
    try:
        model_root.rename(target)
    except OSError as exc:
        if not (target / "saved_model.pb").is_file():
            raise _Failed(f"cannot move the model into place: {exc}") from exc
        log.info("model %s was installed by another process meanwhile", target)
