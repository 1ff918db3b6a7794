"""Bounded retries with exponential backoff and full jitter, and Retry-After parsing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure (connect error, 429, 5xx)."""

    attempts: int = 3  # total tries, the first one included
    base_delay: float = 0.5  # seconds; the backoff cap doubles per retry from here
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited for: the request fails now, so the chain
    # can fall back instead of a worker sleeping for an hour.
    max_retry_after: float = 60.0
    # Read timeouts are not retried by default: the read timeout is already minutes long for
    # CPU inference, and a model that went silent once usually does so again.
    retry_read_timeouts: bool = False

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def backoff(self, retry: int, rand: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**retry)), retry from 0."""
        return rand() * min(self.max_delay, self.base_delay * 2.0**retry)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), None if absent
    or not a finite number. A wait longer than RetryPolicy.max_retry_after is not waited for."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # "inf", "nan", "1e309": garbage, as if no header came (the backoff applies).
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
