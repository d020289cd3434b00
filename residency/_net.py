"""Network names the providers' guards and scans share (no cloud SDK here)."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """This machine: ``localhost`` names, loopback and unspecified addresses in any spelling.

    >>> [is_loopback(h) for h in ("127.0.0.1", "[::1]", "127.1", "2130706433", "app.localhost", "10.0.0.1")]
    [True, True, True, True, True, False]
    """
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:  # the forms the resolver also accepts: 127.1, 2130706433, 0x7f.1
            ip = ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(host)))
        except (OSError, ValueError):
            return False
    return ip.is_loopback or ip.is_unspecified
