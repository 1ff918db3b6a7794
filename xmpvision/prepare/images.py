"""Image preparation: decode a photo once, orient it, and hand engines the size they ask for.

A `PhotoImage` is created per photo and shared by every model of the chain, so a fallback from
Ollama to the classifier does not decode the file twice. Decoded pixels are memoised per
requested size; call `close()` (or use it as a context manager) to drop them.

Decision on small originals: images are never upscaled. A photo whose longest side is below
the requested resolution is sent at its own size, as PhotoPrism's thumbnails are: enlarging
adds no information for the model and only costs upload and prompt tokens.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from PIL import Image, ImageOps, UnidentifiedImageError

from xmpvision.discover import photo_kind
from xmpvision.errors import ImageError
from xmpvision.people import unique_names
from xmpvision.prepare.metadata import PhotoMetadata, hints, read_metadata
from xmpvision.prepare.rawpreview import NoPreview, extract_preview
from xmpvision.text.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

JPEG_QUALITY = 85

Fit = Literal["longest", "shortest"]

@functools.cache
def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF, once, when the first photo is opened (not on import)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # optional: HEIC support only where pillow-heif is installed
        return
    register_heif_opener()


def _target_size(size: tuple[int, int], resolution: int, fit: Fit) -> tuple[int, int]:
    """The size that scales `size` so its longest (or shortest) side is `resolution`.

    Never larger than `size` itself: we do not upscale.
    """
    width, height = size
    side = max(width, height) if fit == "longest" else min(width, height)
    if side <= resolution:
        return width, height
    scale = resolution / side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: alpha over white, 16-bit scaled, CMYK converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        if mode.startswith("I;16"):
            image = image.convert("I")
        _low, high = image.getextrema()
        # 16-bit data must be scaled, not clipped, or every mid-tone turns white.
        if isinstance(high, int | float) and high > 255:
            scale = 255 / (65535 if high <= 65535 else high)
            image = image.point(lambda value: value * scale)
        return image.convert("L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


class PhotoImage:
    """One photo on disk, decoded lazily and memoised per requested size."""

    def __init__(self, path: Path | str, *, max_pixels: int | None = None,
                 vocabulary: Vocabulary | None = None,
                 people: Callable[[Path], tuple[str, ...]] | None = None) -> None:
        self.path = Path(path)
        # For the prompt's hints (Context): the owner's terms it may offer, and who reads the
        # people the owner named outside the photo (its sidecar's face regions).
        self.vocabulary = vocabulary
        self.people = people
        # Read at construction, so a caller may lower Image.MAX_IMAGE_PIXELS process-wide;
        # Pillow's None (no limit) becomes 0 here, which also means no limit.
        self.max_pixels = max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS or 0
        self._lock = threading.Lock()
        self._decoded: Image.Image | None = None  # oriented RGB, the largest decoded so far
        self._size: tuple[int, int] | None = None  # full size after orientation
        self._resized: dict[tuple[int, Fit], Image.Image] = {}
        self._jpegs: dict[int, bytes] = {}
        self._metadata: PhotoMetadata | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop memoised pixels and encodings."""
        with self._lock:
            self._decoded = None
            self._resized.clear()
            self._jpegs.clear()

    def hints(self, wanted: Sequence[str]) -> dict[str, str]:
        """What the photo's own metadata tells a model (date, place, the owner's keywords and
        title), as far as `wanted` asks; read once per photo."""
        if not wanted:
            return {}
        with self._lock:
            if self._metadata is None:
                self._metadata = read_metadata(self.path)
                if "people" in wanted and self.people is not None:
                    named = (*self._metadata.people, *self.people(self.path))
                    self._metadata = replace(self._metadata, people=unique_names(named))
            metadata = self._metadata
        found = hints(metadata, tuple(wanted))
        offered = self.vocabulary.offer() if self.vocabulary and "vocabulary" in wanted else ""
        if offered:
            found["vocabulary"] = offered
        return found

    @property
    def size(self) -> tuple[int, int]:
        """Full width and height after EXIF orientation."""
        with self._lock:
            if self._size is None:
                self._decode(1, "longest")
            assert self._size is not None
            return self._size

    def jpeg(self, resolution: int) -> bytes:
        """A JPEG (quality 85, no metadata) whose longest side is `resolution` (no upscaling)."""
        with self._lock:
            cached = self._jpegs.get(resolution)
            if cached is None:
                buffer = io.BytesIO()
                self._rgb(resolution, "longest").save(buffer, "JPEG", quality=JPEG_QUALITY)
                cached = self._jpegs[resolution] = buffer.getvalue()
            return cached

    def rgb(self, size: int, *, fit: Fit = "longest") -> Image.Image:
        """An oriented RGB image whose longest (or shortest) side is `size` (no upscaling).

        Classifiers that centre-crop ask for fit="shortest". The returned image is shared:
        copy it before changing it in place.
        """
        with self._lock:
            return self._rgb(size, fit)

    def _rgb(self, size: int, fit: Fit) -> Image.Image:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        cached = self._resized.get((size, fit))
        if cached is not None:
            return cached
        source = self._decoded
        if source is None or self._size is None or not _covers(
            source.size, _target_size(self._size, size, fit)
        ):
            source = self._decode(size, fit)
        assert self._size is not None
        target = _target_size(self._size, size, fit)
        result = source if target == source.size else source.resize(
            target, Image.Resampling.LANCZOS, reducing_gap=3.0
        )
        self._resized[(size, fit)] = result
        return result

    def _decode(self, size: int, fit: Fit) -> Image.Image:
        """Open, check and decode the file; every way it can fail is an ImageError."""
        try:
            image = self._load(size, fit)
        except ImageError:
            raise
        except _DECODE_ERRORS as exc:
            raise ImageError(self.path, _reason(exc)) from exc
        if self._decoded is None or _covers(image.size, self._decoded.size):
            self._decoded = image
        logger.debug("decoded %s at %dx%d", self.path, *image.size)
        return image

    def _load(self, size: int, fit: Fit) -> Image.Image:
        """Decode the file, draft-decoding JPEGs to the smallest useful scale."""
        path = self.path
        if path.stat().st_size == 0:
            raise ImageError(path, "empty file (0 bytes)")
        source, raw_orientation = _open_source(path)
        with Image.open(source) as opened:
            if raw_orientation and _ORIENTATION not in opened.getexif():
                # RAW previews often leave the rotation to the RAW's own IFD0.
                opened.getexif()[_ORIENTATION] = raw_orientation
            width, height = opened.size
            if self.max_pixels and width * height > self.max_pixels:
                raise ImageError(
                    path,
                    f"image too large: {width}x{height} pixels exceeds the limit of "
                    f"{self.max_pixels} pixels (possible decompression bomb)",
                )
            swapped = opened.getexif().get(_ORIENTATION, 1) in _SWAPPING_ORIENTATIONS
            self._size = (height, width) if swapped else (width, height)
            if opened.format == "JPEG":
                # JPEG decodes at 1/2, 1/4 or 1/8 scale for free: draft picks the smallest
                # scale still at least the target, far cheaper than a full decode.
                opened.draft("RGB", _target_size((width, height), size, fit))
            opened.load()
            image = _to_rgb(ImageOps.exif_transpose(opened))
            return image.copy() if image is opened else image  # pixels outlive the file


# What a failed decode means, first match wins. Pillow reports truncated or corrupt data with
# the generic types at the end, e.g. "image file is truncated".
_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (Image.DecompressionBombError, "image too large (possible decompression bomb): {exc}"),
    (FileNotFoundError, "file not found"),
    (PermissionError, "permission denied"),
    (IsADirectoryError, "is a directory, not an image"),
    (UnidentifiedImageError, "not an image or an unsupported format"),
    (NoPreview, "camera RAW file without a usable preview: {exc}"),
    ((OSError, SyntaxError, ValueError, EOFError), "truncated or corrupt image data: {exc}"),
)
_DECODE_ERRORS = (Image.DecompressionBombError, NoPreview, OSError, SyntaxError, ValueError,
                  EOFError)


def _reason(exc: BaseException) -> str:
    return next(text.format(exc=exc) for kinds, text in _REASONS if isinstance(exc, kinds))


def _open_source(path: Path) -> tuple[Path | io.BytesIO, int | None]:
    """What Pillow should open: the file itself, or a RAW file's embedded JPEG preview."""
    _register_heif()  # also for a HEIC saved under another extension
    if photo_kind(path.name) != "raw":
        return path, None
    preview, orientation = extract_preview(path)
    return io.BytesIO(preview), orientation


_ORIENTATION = 0x0112  # EXIF tag
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # the ones that rotate by 90 degrees


def _covers(have: tuple[int, int], need: tuple[int, int]) -> bool:
    return have[0] >= need[0] and have[1] >= need[1]

