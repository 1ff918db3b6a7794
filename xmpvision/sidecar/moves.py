"""A photo renamed or moved without its sidecar (`mv IMG.jpg elsewhere/`): the sidecar follows,
so that it is not orphaned under the old name while the state says the photo is done."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from xmpvision.discover import EXTENSIONS
from xmpvision.sidecar.paths import Naming, existing_sidecar

log = logging.getLogger(__name__)


def follow_move(old_path: Path, new: Path, naming: Naming) -> bool:
    """Move `old_path`'s sidecar to where `new` expects it. True when `new` has its sidecar
    afterwards (or had one already); False when the photo must be redone."""
    if existing_sidecar(new, naming) is not None:
        return True  # moved together with its sidecar, as photo managers do
    sidecar = existing_sidecar(old_path, naming)
    if sidecar is None:
        return False
    if sidecar.name.lower() == f"{old_path.name}.xmp".lower():
        target = new.with_name(new.name + sidecar.suffix)
    else:  # IMG.xmp: it stays if another photo (IMG.CR2 beside IMG.jpg) still uses it
        stem = os.path.join(old_path.parent, old_path.stem)
        if any(os.path.lexists(f"{stem}.{ext}") or os.path.lexists(f"{stem}.{ext.upper()}")
               for ext in EXTENSIONS):
            return False
        target = new.with_name(new.stem + sidecar.suffix)
    try:
        if os.path.lexists(target):
            return False
        os.rename(sidecar, target)
    except OSError as exc:
        log.warning("cannot move %s to %s: %s", sidecar, target, exc.strerror or exc)
        return False
    log.info("moved sidecar %s -> %s", sidecar, target)
    return True
