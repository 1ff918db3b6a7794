"""Fetching a model and putting it in place, for every local engine.

A model is streamed (or copied, when the user fetched it by hand) into a temporary directory
beside its target, hashed on the way, checked against the digests it must match, unpacked
there (a zip, with `safe_extract`) or kept as one file, and only then renamed into place. So a
dropped connection, a wrong checksum or a hostile archive leaves nothing where an engine looks.

Needs neither numpy nor TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

import httpx

from xmpvision.engines.http import tls_context

log = logging.getLogger(__name__)

# The largest model we know is about 50 MB; the caps only stop a misbehaving server or a zip
# bomb from filling the NAS's disk.
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
MAX_EXTRACTED_BYTES = 1024 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 10_000
DOWNLOAD_TIMEOUT = httpx.Timeout(120.0, connect=15.0)
CHUNK_BYTES = 256 * 1024

# hashlib name -> length of its hex digest.
DIGEST_LENGTHS = {"sha1": 40, "sha256": 64}

# Bytes done, bytes expected (None when the server did not say).
Progress = Callable[[int, int | None], None]


class UnsafeArchive(ValueError):
    """A zip that would write outside its target directory or is implausibly large."""


class DownloadFailed(Exception):
    """One step of fetching or installing failed; `reason` ends up in the user's message.

    `offline` marks the failures where the network, not the file, is the problem (no route,
    refused, DNS, timeout): the fix is then to fetch the file by hand.
    """

    def __init__(self, reason: str, *, offline: bool = False, local: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offline = offline
        self.local = local  # the models directory cannot be written: no download helps


@dataclass(frozen=True)
class Checksum:
    """A digest with the algorithm it was made with, as the publisher gives it."""

    algorithm: str
    hexdigest: str

    def __post_init__(self) -> None:
        length = DIGEST_LENGTHS.get(self.algorithm)
        if length is None:
            raise ValueError(f"unsupported checksum algorithm {self.algorithm!r}")
        digest = self.hexdigest.lower()
        if len(digest) != length or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a {self.algorithm} digest ({length} hex digits): "
                             f"{self.hexdigest!r}")
        object.__setattr__(self, "hexdigest", digest)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


def parse_sha256(text: str) -> Checksum:
    """A SHA-256 digest given by the user (hex, optionally prefixed "sha256:")."""
    value = text.strip()
    if value.lower().startswith("sha256:"):
        value = value[len("sha256:"):]
    return Checksum("sha256", value)


@dataclass(frozen=True)
class Layout:
    """What a download becomes in the model's directory.

    "zip": an archive holding the model directory, at its root or in one top folder; the
    directory must hold every file of `required` (the first one marks where it is).
    "file": the download itself is the model, stored as `required[0]` in the directory.
    """

    kind: Literal["zip", "file"]
    required: tuple[str, ...]

    def missing(self, directory: Path) -> list[str]:
        """The required files `directory` lacks (all of them when it does not exist)."""
        return [name for name in self.required if not (directory / name).is_file()]


@dataclass(frozen=True)
class Installed:
    path: Path
    size: int  # bytes of the download (or of the file given)
    digests: Mapping[str, str] = field(default_factory=dict)  # of that file, per algorithm
    matched: Checksum | None = None  # the digest it matched; None: nothing to check against
    kept_existing: bool = False  # another process installed it meanwhile; theirs was kept


def install(
    target: Path,
    layout: Layout,
    checksums: Sequence[Checksum],
    *,
    url: str | None = None,
    file: Path | None = None,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    progress: Progress | None = None,
    replace: bool = False,
) -> Installed:
    """Install the model from `url` (or the local `file`) as directory `target`.

    The file must match one of `checksums` when any are given (publishers re-export models, so
    more than one digest can be genuine). With `replace`, an existing `target` is swapped out
    only once the new copy is complete. Raises DownloadFailed.
    """
    if url is not None and file is not None:
        raise ValueError("give a url or a file, not both")
    # SHA-256 always, so an unverified install can still be pinned afterwards.
    algorithms = sorted({c.algorithm for c in checksums} | {"sha256"})
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f".{target.name}-download-", dir=target.parent))
    except OSError as exc:
        raise DownloadFailed(f"cannot write in {target.parent}: {exc.strerror or exc}",
                             local=True) from exc
    try:
        download = workdir / "download"
        if file is not None:
            size, digests = _copy(file, download, progress=progress, algorithms=algorithms)
        elif url is not None:
            size, digests = fetch(url, download, client=client, max_bytes=max_bytes,
                                  progress=progress, algorithms=algorithms)
        else:
            raise ValueError("give a url or a file")
        matched = verify(digests, checksums)
        staged = _stage(download, layout, workdir / "staged", from_server=url is not None)
        kept = _place(staged, target, layout, workdir, replace=replace)
    except OSError as exc:
        raise DownloadFailed(str(exc)) from exc
    finally:
        # Unless the model being replaced could not be put back: then it is all that is left.
        if not (workdir / "previous").exists() or target.exists():
            shutil.rmtree(workdir, ignore_errors=True)
    return Installed(target, size, digests, matched, kept)


class _Sink:
    """Where downloaded or copied bytes go: the file, the digests, the size cap, progress."""

    def __init__(self, out: BinaryIO, algorithms: Sequence[str], *, max_bytes: int,
                 total: int | None, progress: Progress | None) -> None:
        self.out = out
        self.hashes = {name: hashlib.new(name) for name in algorithms}
        self.max_bytes = max_bytes
        self.total = total
        self.progress = progress
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise DownloadFailed(f"larger than {self.max_bytes} bytes")
        self.out.write(chunk)
        for digest in self.hashes.values():
            digest.update(chunk)
        if self.progress is not None:
            self.progress(self.size, self.total)

    def digests(self) -> dict[str, str]:
        return {name: digest.hexdigest() for name, digest in self.hashes.items()}


def fetch(
    url: str,
    dest: Path,
    *,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    progress: Progress | None = None,
    algorithms: Sequence[str] = ("sha256",),
) -> tuple[int, dict[str, str]]:
    """Stream `url` into `dest`: (bytes received, hex digest per algorithm)."""
    http = client or httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True,
                                  verify=tls_context())
    received = 0
    try:
        # Identity encoding: Content-Length then counts the bytes we receive, so a short
        # body is seen for what it is.
        with http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
            if response.status_code != 200:
                phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
                raise DownloadFailed(f"HTTP {response.status_code}{phrase}")
            expected = _content_length(response)
            if expected is not None and expected > max_bytes:
                raise DownloadFailed(f"larger than {max_bytes} bytes ({expected} announced)")
            with dest.open("wb") as out:
                sink = _Sink(out, algorithms, max_bytes=max_bytes, total=expected,
                             progress=progress)
                for chunk in response.iter_raw(CHUNK_BYTES):
                    sink.write(chunk)
                    received = sink.size
            if expected is not None and sink.size < expected:
                raise DownloadFailed(f"truncated download: {sink.size} of {expected} bytes "
                                     "received")
    except httpx.TimeoutException as exc:
        raise DownloadFailed(f"timed out ({type(exc).__name__})", offline=True) from exc
    except httpx.ConnectError as exc:
        raise DownloadFailed(f"cannot connect (ConnectError: {exc})", offline=True) from exc
    except httpx.RemoteProtocolError as exc:
        raise DownloadFailed(f"truncated download: connection dropped after {received} "
                             f"bytes ({exc})") from exc
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if client is None:
            http.close()
    return sink.size, sink.digests()


def _content_length(response: httpx.Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _copy(source: Path, dest: Path, *, progress: Progress | None,
          algorithms: Sequence[str]) -> tuple[int, dict[str, str]]:
    """Copy the user's file in, hashing what is copied: the copy is what gets installed, so a
    file that changes meanwhile cannot slip past the check."""
    try:
        with source.open("rb") as src, dest.open("wb") as out:
            sink = _Sink(out, algorithms, max_bytes=MAX_DOWNLOAD_BYTES,
                         total=os.fstat(src.fileno()).st_size, progress=progress)
            while chunk := src.read(CHUNK_BYTES):
                sink.write(chunk)
    except OSError as exc:
        raise DownloadFailed(f"cannot read {source}: {exc.strerror or exc}") from exc
    return sink.size, sink.digests()


def verify(digests: Mapping[str, str], checksums: Sequence[Checksum]) -> Checksum | None:
    """The checksum the file matches; None when there is none to check; else DownloadFailed."""
    if not checksums:
        return None
    for checksum in checksums:
        if digests.get(checksum.algorithm) == checksum.hexdigest:
            return checksum
    got = ", ".join(f"{name}:{digests[name]}" for name in sorted({c.algorithm for c in checksums})
                    if name in digests)
    expected = " or ".join(str(c) for c in checksums)
    raise DownloadFailed(f"checksum mismatch: got {got}, expected {expected}")


def _stage(download: Path, layout: Layout, staging: Path, *, from_server: bool) -> Path:
    """The model directory built from `download` inside the work directory."""
    if layout.kind == "file":
        staging.mkdir()
        download.rename(staging / layout.required[0])
        return staging
    if not zipfile.is_zipfile(download):
        raise DownloadFailed("the server did not send a zip file" if from_server
                             else "not a zip file")
    staging.mkdir()
    try:
        safe_extract(download, staging)
        root = _find_root(staging, layout.required[0])
    # RuntimeError: encrypted members; NotImplementedError: unsupported compression.
    except (UnsafeArchive, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        raise DownloadFailed(f"unusable archive: {exc}") from exc
    missing = layout.missing(root)
    if missing:
        raise DownloadFailed(f"archive has no {', '.join(missing)} beside "
                             f"{layout.required[0]}")
    return root


def _find_root(extracted: Path, marker: str) -> Path:
    """The directory holding `marker`: the archive root or its single top folder."""
    if (extracted / marker).is_file():
        return extracted
    candidates = [p.parent for p in extracted.glob(f"*/{marker}")]
    if len(candidates) != 1:
        raise UnsafeArchive(f"archive does not contain exactly one {marker}")
    return candidates[0]


def _place(staged: Path, target: Path, layout: Layout, workdir: Path, *, replace: bool) -> bool:
    """Rename the staged model to `target`; True when another process's copy was kept."""
    previous: Path | None = None
    if replace and (target.exists() or target.is_symlink()):
        previous = workdir / "previous"
        target.rename(previous)  # removed with the work directory once the new one is in
    try:
        staged.rename(target)
    except OSError as exc:
        if previous is not None:
            try:
                previous.rename(target)
            except OSError as again:
                raise DownloadFailed(f"cannot move the model into place: {exc}; the previous "
                                     f"model is left in {previous}") from again
        elif not layout.missing(target):
            log.info("model %s was installed by another process meanwhile", target)
            return True
        raise DownloadFailed(f"cannot move the model into place: {exc}") from exc
    return False


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
