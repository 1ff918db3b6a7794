"""Log lines a user reads (on a terminal, or in the journal): never a password, never a raw
control character from a file name or a model's answer."""

from __future__ import annotations

import logging
import sys

from xmpvision.errors import redact
from xmpvision.text.untrusted import printable


class _SafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Also third-party lines (httpx logs each request's URL, userinfo included).
        return printable(redact(super().format(record)))


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    # Logs go to stderr so that --json output on stdout stays machine-readable.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
