"""sd_notify for a `Type=notify` unit: READY, STOPPING, WATCHDOG and STATUS, written to
$NOTIFY_SOCKET with a unix datagram socket (the protocol is one datagram of KEY=VALUE lines)."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(*states: str) -> bool:
    """Send `states` ("READY=1", ...) to systemd; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError as exc:
        log.debug("sd_notify %s: %s", address, exc)
        return False
    return True


def watchdog_period() -> float | None:
    """Seconds between two WATCHDOG=1 pings (half of WatchdogSec), None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.5, int(usec) / 2e6)
    except ValueError:
        return None
