"""Go-style durations ("120s", "1m30s", "500ms") as PhotoPrism's vision.yml writes them."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a Go duration string; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 120s, 2m or 1m30s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise ValueError(f"invalid duration {value!r}; expected e.g. 120s, 2m or 1m30s")
    else:
        raise ValueError("expected a duration such as 120s, 2m or 1m30s")
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return seconds
