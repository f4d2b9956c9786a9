"""Network address checks shared by the mode guard and the local exchange."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1; nothing that resolves elsewhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
