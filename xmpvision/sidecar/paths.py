"""Where a photo's sidecar is: the one that exists, else the one to create."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Literal

Naming = Literal["full", "base"]


def _extension_spellings() -> list[str]:
    # ".xmp" in every letter case: 8 lstat calls beat listing a folder of 100k photos.
    return ["." + "".join(chars) for chars in itertools.product("xX", "mM", "pP")]


_EXTENSIONS = _extension_spellings()


def sidecar_candidates(photo: Path, naming: Naming = "full") -> list[Path]:
    """Names a sidecar of `photo` may have, the preferred form first.

    Full form `IMG.jpg.xmp` (darktable, digiKam, Immich's first choice), base form `IMG.xmp`
    (Lightroom, Capture One; may be shared by a RAW+JPEG pair). `naming` picks which form is
    preferred when both exist and which one is created.
    """
    full = [photo.with_name(photo.name + ext) for ext in _EXTENSIONS]
    base = [photo.with_name(photo.stem + ext) for ext in _EXTENSIONS] if photo.suffix else []
    return full + base if naming == "full" else base + full


def existing_sidecar(photo: Path, naming: Naming = "full") -> Path | None:
    for candidate in sidecar_candidates(photo, naming):
        if os.path.lexists(candidate):
            return candidate
    return None


def find_sidecar(photo: Path, naming: Naming = "full") -> Path:
    """The sidecar that exists for `photo`, or the one to create (`IMG.jpg.xmp` / `IMG.xmp`)."""
    found = existing_sidecar(photo, naming)
    if found is not None:
        return found
    if naming == "base" and photo.suffix:
        return photo.with_name(photo.stem + ".xmp")
    return photo.with_name(photo.name + ".xmp")
