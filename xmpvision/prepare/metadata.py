"""What a photo says about itself: capture date, GPS position, the owner's keywords and title,
from its EXIF, IPTC and embedded XMP, read with exiv2 (through pyexiv2) for JPEG, HEIC, TIFF and
RAW alike. Given to the models as hints, never written to a sidecar as if a model saw it.

pyexiv2 is not thread-safe and cannot open file names that are not UTF-8: photos are read as
bytes, behind one lock.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from xmpvision.people import people_in_exiv2, tagged_people, unique_names
from xmpvision.text.owner import (
    MAX_HINT_LIST_CHARS,
    MAX_HINT_VALUE_CHARS,
    prompt_list,
    prompt_value,
)

log = logging.getLogger(__name__)

# EXIF and IPTC sit at the front of a JPEG; other formats are read whole, up to this size.
JPEG_HEAD_BYTES = 1024 * 1024
MAX_BYTES = 256 * 1024 * 1024
# A photo further than this from the nearest known town gets its country only; further than
# the second, nothing (at sea, the nearest town's country would be a guess).
NEAREST_TOWN_KM = 30.0
NEAREST_COUNTRY_KM = 150.0

_LOCK = threading.Lock()
# Photos in flight at once are a few dozen at most.
_RECENT_SIZE = 256
_RECENT: OrderedDict[tuple[str, int, int], PhotoMetadata] = OrderedDict()

_DATE_KEYS = ("Exif.Photo.DateTimeOriginal", "Exif.Image.DateTimeOriginal",
              "Exif.Photo.DateTimeDigitized", "Xmp.exif.DateTimeOriginal",
              "Xmp.photoshop.DateCreated", "Exif.Image.DateTime")
_KEYWORD_KEYS = ("Iptc.Application2.Keywords", "Xmp.dc.subject")
_TITLE_KEYS = ("Xmp.dc.title", "Iptc.Application2.ObjectName")
_CAPTION_KEYS = ("Xmp.dc.description", "Iptc.Application2.Caption")


@dataclass(frozen=True)
class PhotoMetadata:
    taken: datetime | None = None
    position: tuple[float, float] | None = None  # latitude, longitude in degrees
    keywords: tuple[str, ...] = ()  # the owner's, from IPTC and embedded XMP
    title: str | None = None
    caption: str | None = None
    hierarchical: tuple[str, ...] = ()  # lr:hierarchicalSubject paths ("Places|Nice")
    tags_list: tuple[str, ...] = ()  # digiKam:TagsList paths ("Places/Nice")
    people: tuple[str, ...] = ()  # named faces, PersonInImage, People|… tags (people.py)


def read_metadata(path: Path) -> PhotoMetadata:
    """The photo's own metadata; empty when it has none or cannot be read (a hint is optional:
    a photo is never failed for it). Remembered for the last few photos: the prompt's hints and
    the sidecar's check of the owner's keywords ask for the same photo in turn."""
    try:
        st = path.stat()
    except OSError:
        return PhotoMetadata()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        found = _RECENT.get(key)
    if found is None:
        found = _read(path)
        with _LOCK:
            _RECENT[key] = found
            while len(_RECENT) > _RECENT_SIZE:
                _RECENT.popitem(last=False)
    return found


def _read(path: Path) -> PhotoMetadata:
    try:
        import pyexiv2
    except ImportError:
        return PhotoMetadata()
    # exiv2 prints its warnings on stdout by default, where --json output must stay clean.
    pyexiv2.set_log_level(4)
    try:
        data = _read_bytes(path)
    except OSError as exc:
        log.debug("no metadata from %s: %s", path, exc)
        return PhotoMetadata()
    values: dict[str, object] = {}
    with _LOCK:
        try:
            image = pyexiv2.ImageData(data)
            try:
                for read in (image.read_exif, image.read_iptc, image.read_xmp):
                    values.update(read())
            finally:
                image.close()
        except (RuntimeError, ValueError, UnicodeDecodeError) as exc:  # exiv2's own errors
            log.debug("no metadata from %s: %s", path, exc)
    return parse_metadata(values)


def _read_bytes(path: Path) -> bytes:
    with path.open("rb") as handle:
        head = handle.read(JPEG_HEAD_BYTES)
        if head[:2] == b"\xff\xd8":
            return head  # a JPEG's metadata segments come before the image data
        return head + handle.read(MAX_BYTES - len(head))


def parse_metadata(values: Mapping[str, object]) -> PhotoMetadata:
    """PhotoMetadata from exiv2's key -> value mapping (pyexiv2's read_* results)."""
    found = _parse(values)
    tagged = tagged_people((*found.hierarchical, *found.tags_list))
    return replace(found, people=unique_names((*people_in_exiv2(values), *tagged)))


def _parse(values: Mapping[str, object]) -> PhotoMetadata:
    return PhotoMetadata(
        taken=next((d for k in _DATE_KEYS if (d := _date(values.get(k))) is not None), None),
        position=_position(values),
        keywords=tuple(dict.fromkeys(
            word for key in _KEYWORD_KEYS for word in _texts(values.get(key)) if word
        )),
        title=owner_text(_first(values, _TITLE_KEYS)),
        caption=owner_text(_first(values, _CAPTION_KEYS)),
        hierarchical=tuple(dict.fromkeys(
            t for t in _texts(values.get("Xmp.lr.hierarchicalSubject")) if t)),
        tags_list=tuple(dict.fromkeys(t for t in _texts(values.get("Xmp.digiKam.TagsList")) if t)),
    )


# What cameras, phones and scanners write as the image's description by themselves; tools
# such as Lightroom copy it into dc:description. Nobody typed it, so it is not the owner's
# caption (it would block ours for ever).
_CAMERA_PLACEHOLDERS = frozenset(text.casefold() for text in (
    "OLYMPUS DIGITAL CAMERA", "SAMSUNG", "SAMSUNG CAMERA PICTURES", "<Digimax i5, Samsung #1>",
    "SONY DSC", "Scanner", "Created by Imlib", "iClarified", "binary comment", "default",
    "Exif_JPEG_PICTURE", "DVC 10.1 HDMI", "charset=Ascii", "DIGITAL CAMERA",
    "KODAK Digital Still Camera",
    # Huawei and Honor phones' camera modes
    "rhdr", "hdrpl", "oznorWO", "frontbhdp", "fbt", "rbt", "ptr", "fbthdr", "btr", "mon", "nor",
    "dav", "mde", "mde_soft", "edf", "btfmdn", "btf", "btfhdr", "frem", "oznor", "rpt", "burst",
    "sdr_HDRB", "cof", "qrf", "fshbty",
))


def owner_text(text: str | None) -> str | None:
    """The text, unless a camera or a tool wrote it by itself (a model name, a camera mode, a
    DCIM path, binary data shown as text)."""
    if text is None:
        return None
    folded = text.casefold()
    if (folded in _CAMERA_PLACEHOLDERS or folded.startswith(("(binary data",
                                                               "string with binary data"))
            or (folded.startswith(("dcim\\", "dcim/")) and " " not in folded)):
        return None
    return text


def _first(values: Mapping[str, object], keys: tuple[str, ...]) -> str | None:
    return next((t for key in keys for t in _texts(values.get(key)) if t), None)


def _texts(value: object) -> list[str]:
    """Text items of a value: a string, a list of them, or a Lang Alt ({lang: text})."""
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    if isinstance(value, dict):
        # pyexiv2 gives Lang Alt as {'lang="x-default"': text, ...}; x-default first.
        ordered = sorted(value.items(), key=lambda item: "x-default" not in str(item[0]))
        return [str(v).strip() for _, v in ordered]
    return []


def _date(value: object) -> datetime | None:
    text = _texts(value)[0] if _texts(value) else ""
    for pattern, length in (("%Y:%m:%d %H:%M:%S", 19), ("%Y-%m-%dT%H:%M:%S", 19),
                            ("%Y-%m-%dT%H:%M", 16), ("%Y-%m-%d", 10)):
        try:
            return datetime.strptime(text[:length], pattern)
        except ValueError:
            continue
    return None


def _rational(text: str) -> float:
    numerator, _, denominator = text.partition("/")
    return float(numerator) / float(denominator or 1)


def _degrees(value: object, ref: object, negative: str) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parts = [_rational(p) for p in value.split()]
    except (ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3:
        return None
    degrees = sum(p / 60.0**i for i, p in enumerate(parts))
    return -degrees if str(ref).strip().upper() == negative else degrees


def _position(values: Mapping[str, object]) -> tuple[float, float] | None:
    lat = _degrees(values.get("Exif.GPSInfo.GPSLatitude"),
                   values.get("Exif.GPSInfo.GPSLatitudeRef"), "S")
    lon = _degrees(values.get("Exif.GPSInfo.GPSLongitude"),
                   values.get("Exif.GPSInfo.GPSLongitudeRef"), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:  # cameras write 0/0 when they had no fix
        return None
    return lat, lon


def place_name(position: tuple[float, float]) -> str | None:
    """"Nice, France" for a position, from the offline GeoNames data bundled with
    reverse-geocode (no network at run time); None where that is not installed."""
    try:
        import reverse_geocode
    except ImportError:
        return None
    found = reverse_geocode.get(position)
    country = str(found.get("country") or "").strip()
    city = str(found.get("city") or "").strip()
    near = _km(position, (float(found["latitude"]), float(found["longitude"])))
    if city and near <= NEAREST_TOWN_KM:
        return f"{city}, {country}" if country else city
    if country and near <= NEAREST_COUNTRY_KM:
        return country
    return None


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(h))


CONTEXT_KINDS = ("date", "place", "keywords", "people", "vocabulary")


def hints(metadata: PhotoMetadata, wanted: tuple[str, ...]) -> dict[str, str]:
    """The hints a prompt gets (see engines/prompts.py `with_hints`): only what the photo has
    and the model's `Context` asks for. A photo without GPS simply has no place."""
    out: dict[str, str] = {}
    if "date" in wanted and metadata.taken is not None:
        out["date"] = f"{metadata.taken.day} {metadata.taken:%B %Y}"
    if "place" in wanted and metadata.position is not None:
        place = place_name(metadata.position)
        if place:
            out["place"] = place
    if "keywords" in wanted:
        words = prompt_list(metadata.keywords, each=MAX_HINT_VALUE_CHARS,
                            total=MAX_HINT_LIST_CHARS)
        title = prompt_value(metadata.title or "", MAX_HINT_VALUE_CHARS)
        if words:
            out["keywords"] = words
        if title:
            out["title"] = title
    if "people" in wanted:
        people = prompt_list(metadata.people, each=MAX_HINT_VALUE_CHARS,
                             total=MAX_HINT_LIST_CHARS)
        if people:
            out["people"] = people
    return out
