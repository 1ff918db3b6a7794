"""Where a classifier's files are: `File` and `LabelFile` relative to the model's directory.

Needs neither numpy nor a runtime, so `vision ls` can show it on any install.
"""

from __future__ import annotations

from pathlib import Path


def resolve_in(home: Path, value: str | None, default: str) -> Path:
    """`value` (else `default`): as given when absolute (a leading ~ expanded), else inside
    the model's directory `home`."""
    path = Path(value.strip() if value and value.strip() else default).expanduser()
    return path if path.is_absolute() else home / path
