"""Secrets never reach output: the one place that takes them out of text shown to a user."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_uri(uri: str) -> str:
    """The URI without userinfo (user:password@), which must never be printed.

    Accepts an endpoint with a method in front ("POST http://...") too.
    """
    method, sep, rest = uri.partition(" ")
    if sep and "://" in rest:
        return f"{method} {redact_uri(rest)}"
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, f"***@{netloc}", parts.path, parts.query, parts.fragment))
