"""Which config warnings were already given: each once per config file and content.

A warning about a PhotoPrism key repeated on every run (a daemon's jobs, a cron job) is noise
that buries the lines that matter. What was said is recorded per file path with the file's
SHA-256, next to the state database; an edited file is warned about again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from xmpvision.config.loader import LoadedConfig

STORE_NAME = "warned.json"


def fresh_warnings(loaded: LoadedConfig, store: Path) -> list[str]:
    """The warnings of `loaded` not yet given for its file as it is now, recorded as given.
    A config without a file, or a store that cannot be read or written, warns every time."""
    if not loaded.warnings or loaded.path is None or loaded.digest is None:
        return list(loaded.warnings)
    key = str(loaded.path.resolve())
    given = _read(store)
    if given.get(key) == loaded.digest:
        return []
    given[key] = loaded.digest
    _write(store, given)
    return list(loaded.warnings)


def _read(store: Path) -> dict[str, str]:
    try:
        data = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write(store: Path, given: dict[str, str]) -> None:
    # Written whole and renamed into place: two runs at once leave one complete record.
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=store.parent, prefix=".warned-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(given, out, sort_keys=True)
        os.replace(name, store)
    except OSError:
        return  # best effort: the worst case is a warning given again
