"""The health tests run isolated as the daemon's do: no downloads, none of the user's files."""

from tests.daemon.conftest import _isolated

__all__ = ["_isolated"]
