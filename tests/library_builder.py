"""Photo libraries on disk for the end-to-end tests of the scan pipeline, and the tools to run
`xmpvision` against them and read what it wrote.

Everything here is small and fast to build: photos are 64x48 unless a test needs otherwise,
RAW files are fake containers (TIFF, RAF, CR3 layouts) around a 200x150 JPEG preview, as in
tests/test_rawpreview.py, and the decompression bomb is a PNG whose header claims 30000x30000.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SMALL = (64, 48)
PREVIEW = (200, 150)  # RAW previews below 160x120 are taken for thumbnails and ignored

# Every format discovery supports: extension -> how the test library writes it.
PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "tif": "TIFF", "webp": "WEBP", "heic": "HEIF"}
RAW_SUFFIXES = ("CR2", "CR3", "NEF", "ARW", "RAF", "ORF", "RW2", "DNG")

# Root ignores file permissions. Started under `setpriv` without these capabilities, a root
# process obeys them like any user, which is what the unreadable-file and read-only-folder
# cases need.
_DROP_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


# --- image bytes ----------------------------------------------------------------------------


def image_bytes(fmt: str, size: tuple[int, int] = SMALL,
                color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = SMALL, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    return image_bytes("JPEG", size, color)


def heif_unavailable() -> str | None:
    """Why HEIC files cannot be written here, or None when they can."""
    try:
        import pillow_heif
    except ImportError:
        return "pillow-heif is not installed"
    pillow_heif.register_heif_opener()
    try:
        image_bytes("HEIF")
    except (OSError, KeyError, ValueError) as exc:
        return f"pillow-heif cannot encode HEIF here: {exc}"
    return None


def _lossless_sof3(width: int, height: int) -> bytes:
    """The start of a lossless JPEG (SOF3) as CR2/DNG store sensor data (not a preview)."""
    sof3 = b"\xff\xc3" + struct.pack(">HBHHB", 11, 14, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + sof3 + sos + bytes(range(256)) * 4 + b"\xff\xd9"


def raw_bytes(suffix: str, preview: bytes) -> bytes:
    """A fake camera RAW of the kind `suffix` names, holding `preview` as its JPEG preview."""
    kind = suffix.upper().lstrip(".")
    if kind == "RAF":
        return b"FUJIFILMCCD-RAW 0201FF383501" + b"\x00" * 64 + preview + b"\x00" * 256
    if kind == "CR3":
        return (struct.pack(">I4s4sI", 24, b"ftyp", b"crx ", 1) + b"\x00" * 8
                + struct.pack(">I4s", 8 + len(preview), b"PRVW") + preview)
    # TIFF-structured (CR2, NEF, ARW, ORF, RW2, DNG): IFD0 with Orientation 1, then blobs.
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 1, 0) + struct.pack("<I", 0)
    return (b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 512
            + _lossless_sof3(6000, 4000) + b"\x00" * 128 + preview + b"\x00" * 64)


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit greyscale PNG of width x height zero pixels (about 110 KB on disk, 900
    megapixels decoded): decoding it would take gigabytes once converted to RGB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(1)
    block = row * 1000
    parts = [compressor.compress(block) for _ in range(height // 1000)]
    parts.append(compressor.compress(row * (height % 1000)))
    parts.append(compressor.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
            + chunk(b"IEND", b""))


# --- libraries ------------------------------------------------------------------------------


@dataclass
class Library:
    """A library on disk and what a scan must make of each file in it.

    `good`: photos that must end with a sidecar. `bad`: path -> a lower-case fragment the
    error reported for it must contain. `loops`: symlinks back into the tree, skipped (with
    "symlink loop") when links are followed. Paths are `bytes` where the name is not UTF-8.
    """

    root: Path
    good: list[Path] = field(default_factory=list)
    bad: dict[Path, str] = field(default_factory=dict)
    loops: list[Path] = field(default_factory=list)
    raw_good: list[bytes] = field(default_factory=list)  # good photos with non-UTF-8 names
    permission_cases: list[Path] = field(default_factory=list)  # need enforced permissions

    def all_good(self) -> list[str | bytes]:
        return [*(str(p) for p in self.good), *self.raw_good]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def add_every_format(library: Library, *, heic: bool) -> None:
    """One good photo per supported format, spread over nested folders."""
    root = library.root
    colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200)]
    for index, (ext, fmt) in enumerate(PIL_FORMATS.items()):
        if ext == "heic" and not heic:
            continue
        folder = root / ("2023/summer" if index % 2 else "2024/winter/day1")
        library.good.append(write(folder / f"IMG_{index:04d}.{ext}",
                                  image_bytes(fmt, SMALL, colors[index])))
    for index, suffix in enumerate(RAW_SUFFIXES):
        folder = root / "raw" / ("canon" if suffix.startswith("CR") else "other")
        preview = jpeg_bytes(PREVIEW, (30 * index, 90, 160))
        library.good.append(write(folder / f"DSC_{index:04d}.{suffix}", raw_bytes(suffix, preview)))
    # An upper-case JPEG extension, at the root.
    library.good.append(write(root / "ROOT.JPEG", jpeg_bytes()))


def add_bad_files(library: Library) -> None:
    """Files no scan can use; each must be reported with its reason."""
    bad = library.root / "bad"
    library.bad[write(bad / "empty.jpg", b"")] = "empty file"
    library.bad[write(bad / "truncated.jpg", jpeg_bytes((640, 480))[:700])] = "truncated"
    library.bad[write(bad / "notes.jpg", b"this is a text file, not a photo\n" * 20)] = (
        "not an image"
    )
    library.bad[write(bad / "bomb.png", png_bomb())] = "decompression bomb"
    library.bad[write(bad / "no_preview.nef", b"II*\x00" + b"\x01" * 4000)] = "without a usable"


def add_non_utf8_name(library: Library) -> bytes:
    """A good JPEG whose file name is Latin-1, not UTF-8 (as old Windows shares hold)."""
    folder = library.root / "latin1"
    folder.mkdir(parents=True, exist_ok=True)
    raw = os.fsencode(folder) + b"/caf\xe9 cr\xe8me.jpg"
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, jpeg_bytes())
    finally:
        os.close(fd)
    library.raw_good.append(raw)
    return raw


def add_symlink_loop(library: Library) -> Path:
    """A folder holding a symlink to its own parent: a loop when links are followed."""
    folder = library.root / "loop" / "inner"
    write(folder / "inside.jpg", jpeg_bytes())
    library.good.append(folder / "inside.jpg")
    link = folder / "back"
    link.symlink_to("..", target_is_directory=True)
    library.loops.append(link)
    return link


def add_permission_cases(library: Library) -> tuple[Path, Path]:
    """An unreadable photo (mode 000) and a good photo in a read-only folder (mode 555).

    Only meaningful where permissions are enforced: see `permissions_enforced`.
    """
    locked = write(library.root / "private" / "locked.jpg", jpeg_bytes())
    locked.chmod(0)
    library.bad[locked] = "permission denied"
    folder = library.root / "readonly"
    photo = write(folder / "cannot_write_sidecar.jpg", jpeg_bytes())
    folder.chmod(0o555)
    library.bad[photo] = "permission denied"
    library.permission_cases += [locked, photo]
    return locked, photo


def restore_permissions(root: Path) -> None:
    """Make everything under `root` writable again, so that pytest can clean it up."""
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def write_photos(folder: Path, count: int, *, per_folder: int = 50) -> list[Path]:
    """`count` small distinct JPEGs in subfolders of `per_folder` photos each."""
    photos = []
    for index in range(count):
        color = (index % 256, (index * 7) % 256, (index * 13) % 256)
        sub = folder / f"roll{index // per_folder:02d}"
        photos.append(write(sub / f"P{index:05d}.jpg", jpeg_bytes((32, 24), color)))
    return photos


# --- configuration --------------------------------------------------------------------------


def write_config(path: Path, uri: str, *, parallel: int = 1, types: Sequence[str] = ("labels",
                 "caption"), model: str = "gemma3", extra: str = "") -> Path:
    """A vision.yml with one Ollama model per type on one service (no TensorFlow fallback
    unless `extra` adds one: for a type that has an entry, no built-in is appended). `extra`:
    more entries of the Models list, as YAML ("- Type: ..."), indented as you like."""
    lines = ["Models:"]
    lines += [m for t in types for m in (
        f"  - Type: {t}",
        f"    Model: {model}",
        f'    Service: {{Uri: "{uri}", Parallel: {parallel}, ConnectTimeout: 2s, Timeout: 20s}}',
    )]
    text = "\n".join(lines) + "\n" + textwrap.indent(textwrap.dedent(extra), "  ")
    if "caption" not in types and "Type: caption" not in extra:
        # Without an entry a built-in caption model (Ollama at localhost) would be appended.
        text += "  - Type: caption\n    Model: gemma3\n    Disabled: true\n"
    if "labels" not in types and "Type: labels" not in extra:
        text += "  - Type: labels\n    Default: true\n    Disabled: true\n"
    path.write_text(text)
    return path


class Collect:
    """A run's reporter that keeps the photos' reports and ignores the rest."""

    def __init__(self) -> None:
        self.reports: list[Any] = []

    def notice(self, message: str) -> None:
        pass

    def unchanged(self, path: str) -> None:
        pass

    def photo(self, report: Any) -> None:
        self.reports.append(report)


# --- running the CLI ------------------------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XMPVISION_", "OLLAMA_"))}
    env.update({"XMPVISION_NO_DOWNLOAD": "1", "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}, **extra)
    return env


def permissions_enforced() -> str | None:
    """None when file permissions bind `xmpvision` subprocesses; else why they cannot."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        return "running as root and setpriv is missing: permissions cannot be enforced"
    probe = subprocess.run([*_DROP_DAC, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"running as root and setpriv cannot drop capabilities: {probe.stderr!r}"
    return None


def xmpvision_cmd(*args: str | os.PathLike[str], enforce_permissions: bool = False) -> list[str]:
    prefix = _DROP_DAC if enforce_permissions and os.geteuid() == 0 else []
    return [*prefix, sys.executable, "-m", "xmpvision", *(os.fspath(a) for a in args)]


def run_xmpvision(*args: str | os.PathLike[str], enforce_permissions: bool = False,
                  timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        xmpvision_cmd(*args, enforce_permissions=enforce_permissions),
        capture_output=True, text=True, env=cli_env(), timeout=timeout, check=False,
        errors="surrogateescape",
    )


@dataclass
class Ndjson:
    records: list[dict[str, Any]]
    summary: dict[str, Any]

    def by_status(self, status: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == status]

    def paths(self, status: str | None = None) -> list[str]:
        return [r["path"] for r in self.records if status is None or r["status"] == status]


def parse_ndjson(stdout: str, *, allow_partial_tail: bool = False) -> Ndjson:
    """Every stdout line is one JSON object: photos, then (for a finished run) the summary.

    `allow_partial_tail`: the run was killed, so the last line may be cut and the summary
    missing.
    """
    lines = stdout.splitlines()
    records: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for number, line in enumerate(lines, 1):
        try:
            value = json.loads(line)
        except ValueError:
            if allow_partial_tail and number == len(lines):
                break
            raise AssertionError(f"stdout line {number} is not JSON: {line!r}") from None
        assert isinstance(value, dict), line
        if "summary" in value:
            assert number == len(lines), "the summary must be the last line"
            summary = value["summary"]
        else:
            records.append(value)
    if not allow_partial_tail:
        assert summary, f"no summary line in {stdout[-500:]!r}"
    return Ndjson(records, summary)


# --- reading results ------------------------------------------------------------------------


@overload
def sidecar_of(photo: str | Path) -> str: ...
@overload
def sidecar_of(photo: bytes) -> bytes: ...
@overload
def sidecar_of(photo: str | bytes) -> str | bytes: ...


def sidecar_of(photo: str | bytes | Path) -> str | bytes:
    """The path of the sidecar xmpvision creates for `photo` (`IMG.jpg.xmp`)."""
    if isinstance(photo, bytes):
        return photo + b".xmp"
    return f"{photo}.xmp"


def exiftool_json(paths: Iterable[str | bytes], *, struct_: bool = True) -> list[dict[str, Any]]:
    """exiftool -j (-struct) of sidecars; keys are exiftool's tag names (Subject, ...)."""
    args: list[str | bytes] = ["exiftool", "-j"]
    if struct_:
        args.append("-struct")
    wanted = list(paths)
    result = subprocess.run([*args, *wanted], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    # exiftool prints file names as they are: a Latin-1 one is not valid UTF-8.
    records: list[dict[str, Any]] = json.loads(result.stdout.decode("utf-8", "surrogateescape"))
    assert len(records) == len(wanted)
    return records


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def state_results(state: Path) -> dict[str, dict[str, str]]:
    """Per photo path: model type -> recorded status ("done"/"failed"), read with sqlite3."""
    conn = sqlite3.connect(state)
    try:
        rows = conn.execute(
            "SELECT d.path, f.name, r.type, r.status FROM results r"
            " JOIN files f ON f.id = r.file_id JOIN dirs d ON d.id = f.dir_id"
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, dict[str, str]] = {}
    for folder, name, model_type, status in rows:
        folder_s = folder if isinstance(folder, str) else os.fsdecode(bytes(folder))
        name_s = name if isinstance(name, str) else os.fsdecode(bytes(name))
        out.setdefault(os.path.join(folder_s, name_s), {})[model_type] = status
    return out
