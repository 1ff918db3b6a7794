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


# Go's time.ParseDuration, which Ollama applies to a `keep_alive` string: an optional sign, then
# numbers each with a unit; a bare "0" is the one value without a unit.
_GO_DURATION = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+")


def check_keep_alive(value: object) -> str | int | float | None:
    """A `keep_alive` as Ollama reads it: a number is seconds (negative: keep loaded for
    ever), a string a Go duration ("5m", "300s", "-1m"). "300" is refused there with a 400 on
    every request, so it is refused here, at load."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text == "0" or _GO_DURATION.fullmatch(text):
            return text
        if re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
            raise ValueError(f"invalid KeepAlive {value!r}: a number in quotes has no unit; "
                             f"write {text} (seconds) or \"{text}s\"")
    raise ValueError(f"invalid KeepAlive {value!r}; expected seconds (300) or a duration "
                     "such as 5m, 300s or -1m")
