"""XMP sidecars: find, read, merge our keywords and texts (caption, title) without loss, write
atomically.

Public API (everything else in this package is internal):
- find_sidecar(photo, naming="full") -> Path
- update_sidecar(photo, result, *, naming, force, dry_run, now, source, follow_symlinks,
  keyword_parent) -> SidecarChange
- reset_sidecar(photo, types, source, *, naming, dry_run, now, follow_symlinks) -> SidecarChange
- read_sidecar(path) -> SidecarState; read_sidecar_keywords(path) -> list[str]
"""

from xmpvision.sidecar.api import RESET_TYPES, SidecarChange, reset_sidecar, update_sidecar
from xmpvision.sidecar.model import SidecarState, read_sidecar, read_sidecar_keywords
from xmpvision.sidecar.paths import Naming, existing_sidecar, find_sidecar
from xmpvision.sidecar.provenance import (
    NS_URI,
    PREFIX,
    KeywordRecord,
    TextRecord,
)

__all__ = [
    "NS_URI",
    "PREFIX",
    "RESET_TYPES",
    "KeywordRecord",
    "Naming",
    "SidecarChange",
    "SidecarState",
    "TextRecord",
    "existing_sidecar",
    "find_sidecar",
    "read_sidecar",
    "read_sidecar_keywords",
    "reset_sidecar",
    "update_sidecar",
]
