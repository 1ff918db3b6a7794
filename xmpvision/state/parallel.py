"""What `Parallel: auto` found per service, kept in the state database between runs: `vision ls`
and `doctor` make no requests, so they can only show what the last run that asked the service
found (table `parallel_found`, see schema.py).

A reader that only shows it (`read_found`) opens the database read-only and never creates it:
on a fresh machine, or with a file it cannot read, nothing was found.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmpvision.state.schema import LOAD_PARALLEL

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FoundParallel:
    """One service's finding."""

    found: int  # requests it was seen to serve at once
    most: int  # the most its limiter was allowed to try
    at: float  # when the run that found it ended (seconds since the epoch)


def from_rows(rows: Iterable[tuple[Any, ...]]) -> dict[str, FoundParallel]:
    """Service -> its finding, from LOAD_PARALLEL's rows."""
    return {str(service): FoundParallel(int(found), int(most), float(at))
            for service, found, most, at in rows}


def read_found(path: Path) -> dict[str, FoundParallel]:
    """What the state database at `path` keeps, read without writing or creating anything;
    empty when there is no database, it cannot be read, or it predates the table."""
    if not path.is_file():
        return {}
    # Without a write-ahead log every writer has closed (the last one removes it): the file is
    # read as it is, since a read-only connection would create a log and its index and could
    # not remove them. With one, a writer may be at work: read through its log.
    still = "" if os.path.lexists(f"{path}-wal") else "&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro{still}", uri=True,
                               timeout=5.0)
    except sqlite3.Error as exc:
        logger.info("state database %s not read: %s", path, exc)
        return {}
    try:
        return from_rows(conn.execute(LOAD_PARALLEL))
    except (sqlite3.Error, TypeError, ValueError) as exc:
        # Not there yet (a database of an older version), or not a state database.
        logger.info("state database %s: no Parallel found read: %s", path, exc)
        return {}
    finally:
        conn.close()
